#!/usr/bin/env bash
# The full test suite, on the real models that setup.sh fetched. Run ./setup.sh first.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh
"$CALLSIGHT_BIN" models verify --quick
cargo test --release --locked --workspace "$@"
