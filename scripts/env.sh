# Shared environment of setup.sh and test.sh: expensive things live outside the clone, keyed by
# version, so a fresh clone on the same machine reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/callsight/target}"
export CALLSIGHT_MODELS_DIR="${CALLSIGHT_MODELS_DIR:-$HOME/.cache/callsight/models/v1}"
export CALLSIGHT_MIRROR_DIR="${CALLSIGHT_MIRROR_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared/models}"
export CALLSIGHT_BIN="$CARGO_TARGET_DIR/release/callsight"
