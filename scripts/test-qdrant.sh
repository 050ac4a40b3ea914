#!/usr/bin/env bash
# Runs every test that has a Qdrant-server variant against the server at URL (its gRPC endpoint):
# the voiceprint index conformance suite (plus the server-only checks: concurrent collection
# creation, a collection dropped under a running process, and a server restart when
# CALLSIGHT_TEST_QDRANT_RESTART names a command that restarts it), then the service tests and the
# kill/restart test with `callsight serve` and `callsight worker` on `voiceprints.backend = "server"`,
# the speaker CLI (`callsight speakers` enrol/verify/identify/watchlist/delete) and the migration of
# a data directory's voiceprints into the server (`callsight migrate --to-qdrant`).
# Usage: scripts/test-qdrant.sh http://127.0.0.1:6334   (CALLSIGHT_TEST_QDRANT_API_KEY if it needs one)
set -euo pipefail
url=${1:?usage: scripts/test-qdrant.sh QDRANT_GRPC_URL (e.g. http://127.0.0.1:6334)}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
export CALLSIGHT_TEST_QDRANT_URL=$url
# `--workspace` as everywhere (one feature set, so nothing is compiled twice); each crate's tests
# are one binary, `it`, and the name filters pick the modules.
cargo test --release --locked --workspace --test it -- --test-threads 2 voiceprint_index::
cargo test --release --locked --workspace --test it -- --test-threads 1 service:: crash_restart:: scale:: speakers::
