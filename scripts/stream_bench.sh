#!/usr/bin/env bash
# Live-stream benchmark: audio-to-final-word latency (p50/p95) and how many concurrent real-time
# streams this machine sustains before the p95 latency passes 2 s, for each Whisper model.
#
#   scripts/stream_bench.sh CALL.wav [MAX_STREAMS]
#   STREAM_BENCH_MODELS="tiny.en tiny.en-q8_0" scripts/stream_bench.sh CALL.wav 2   # other models
#   CALLSIGHT_BIN=/tmp/callsight-old scripts/stream_bench.sh CALL.wav 2   # another build
#   Settings go to the server as usual: CALLSIGHT__STREAMS__PARTIAL_INTERVAL_SECS=0.5 ...
#
# Starts its own `callsight serve` (API only, no workers) on a temporary data directory per
# model, plays CALL.wav with `callsight stream --realtime --concurrency N` for N = 1, 2, ...
# and prints one JSON line per run. Not a test: figures depend on the machine and its load.
set -euo pipefail
call=${1:?usage: scripts/stream_bench.sh CALL.wav [MAX_STREAMS]}
max_streams=${2:-6}
limit_secs=2.0
here=$(cd "$(dirname "$0")/.." && pwd)
chosen_bin=${CALLSIGHT_BIN:-}
source "$here/scripts/env.sh"   # sets CALLSIGHT_BIN to this checkout's build
bin=${chosen_bin:-$CALLSIGHT_BIN}
[ -x "$bin" ] || (cd "$here" && cargo build --release --locked -p callsight)

for model in ${STREAM_BENCH_MODELS:-tiny.en base}; do
  work=$(mktemp -d)
  key=$("$bin" keys create --data-dir "$work/data" --tenant bench --role ingest 2>/dev/null | tail -1)
  CALLSIGHT__STREAMS__MODEL=$model CALLSIGHT__STREAMS__CAPACITY=$max_streams \
    "$bin" serve --data-dir "$work/data" --listen 127.0.0.1:0 --workers 0 >"$work/stdout" 2>"$work/stderr" &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 300); do grep -q "listening on" "$work/stdout" && break; sleep 0.2; done
  addr=$(sed -n 's#^listening on http://##p' "$work/stdout")
  sustained=0
  for n in $(seq 1 "$max_streams"); do
    stats=$("$bin" stream "$call" --url "ws://$addr/v1/streams" --key "$key" --realtime \
      --concurrency "$n" --format json | tail -1)
    echo "{\"model\":\"$model\",\"load_avg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"stats\":$stats}"
    p95=$(echo "$stats" | sed -n 's/.*"latency_p95_secs":\([0-9.]*\).*/\1/p')
    if [ -z "$p95" ] || awk "BEGIN{exit !($p95 > $limit_secs)}"; then break; fi
    sustained=$n
  done
  echo "{\"model\":\"$model\",\"streams_sustained_p95_under_${limit_secs}s\":$sustained}"
  kill $server; wait $server 2>/dev/null || true
  trap - EXIT
  rm -rf "$work"
done
