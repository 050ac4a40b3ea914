#!/usr/bin/env bash
# Runs every test that has a Qdrant-server variant against the server at URL (its gRPC endpoint):
# the voiceprint index conformance suite (plus the server-only checks: concurrent collection
# creation, a collection dropped under a running process, and a server restart when
# CALLSIGHT_TEST_QDRANT_RESTART names a command that restarts it), then the service tests and the
# kill/restart test with `callsight serve` and `callsight worker` on `voiceprints.backend = "server"`.
# Usage: scripts/test-qdrant.sh http://127.0.0.1:6334   (CALLSIGHT_TEST_QDRANT_API_KEY if it needs one)
set -euo pipefail
url=${1:?usage: scripts/test-qdrant.sh QDRANT_GRPC_URL (e.g. http://127.0.0.1:6334)}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
export CALLSIGHT_TEST_QDRANT_URL=$url
cargo test --release --locked -p callsight-models --test voiceprint_index -- --test-threads 2
cargo test --release --locked --test service --test crash_restart -- --test-threads 1
