#!/usr/bin/env bash
# Load benchmarks of the service, from a second process on loopback (scripts/bench_load.py):
#
#   scripts/bench_load.sh verify    (make bench-load-verify)
#       The highest rate of IVR verifications (10 s probes, one enrolled speaker) held for 60 s
#       with 0 errors and p99 under 1 s: 10 s probes of doubling then bisected rates, then 60 s.
#   scripts/bench_load.sh upload    (make bench-load-upload)
#       Uploads of a short call at 50 requests/s for 60 s: every answer must be 202, or the
#       documented back-pressure (429 rate limit / 503 queue full) with Retry-After, and every
#       202 must be analysed in the end.
#
# A throwaway data directory and a server on a free loopback port, stopped on exit. Server
# settings: analysis.model = tiny.en (BENCH_MODEL), workers.concurrency = 1; for `verify`, the
# per-key rate limit is raised out of the way (we measure capacity, not the limiter); for
# `upload` it stays at its default (600/min) and server.max_queued_jobs = 100 (BENCH_MAX_QUEUED),
# so both back-pressure answers occur. Voices are synthesised with espeak-ng.
# Results: one JSON line each, appended to ~/.cache/callsight/bench/load.log.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
mode="${1:?usage: bench_load.sh verify|upload}"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
data="$work/data"
mkdir -p "$data" "$HOME/.cache/callsight/bench"
key() { "$CALLSIGHT_BIN" keys create --data-dir "$data" --tenant bench --role "$1" | tail -n 1; }
admin_key=$(key admin)
ivr_key=$(key ivr)
ingest_key=$(key ingest)
qa_key=$(key qa)

export CALLSIGHT__ANALYSIS__MODEL="${BENCH_MODEL:-tiny.en}"
export CALLSIGHT__WORKERS__CONCURRENCY=1
if [ "$mode" = verify ]; then
    export CALLSIGHT__SERVER__RATE_LIMIT_PER_MINUTE=1000000
else
    export CALLSIGHT__SERVER__MAX_QUEUED_JOBS="${BENCH_MAX_QUEUED:-100}"
fi
"$CALLSIGHT_BIN" serve --data-dir "$data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 240); do
    curl -fsS "$url/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 1
done
curl -fsS "$url/readyz" >/dev/null

say() { espeak-ng -v en-us -s 150 -w "$work/$1.raw.wav" "$2"; sox "$work/$1.raw.wav" -r 8000 -c 1 -b 16 "$work/$1.wav"; }
case "$mode" in
verify)
    # ~30 s of one voice to enrol, a different text of ~10 s as the probe.
    say enrol1 "Thank you for calling card services. I would like to check the balance on my account and ask about a payment I made last week, which has not appeared on my statement yet."
    say enrol2 "My card number ends in four four seven two. I moved house in March and my new address is twelve Station Road. Could you also send me a new card please, the old one is worn out."
    # About 12 s of speech, cut to exactly 10 s.
    say probe "Hello, I am calling about my credit card. I think there is a problem with my last payment, it was taken twice from my current account on Monday, and I would like the second one refunded please."
    sox "$work/probe.wav" "$work/probe10.wav" trim 0 10
    enrolled=$(curl -sS -H "Authorization: Bearer $admin_key" -F "audio=@$work/enrol1.wav;type=audio/wav" \
        -F "audio=@$work/enrol2.wav;type=audio/wav" "$url/v1/speakers/bench-caller/enroll")
    echo "enrolled: $enrolled" >&2
    echo "probe: $(soxi -D "$work/probe10.wav") s" >&2
    result=$(python3 scripts/bench_load.py verify-search "$url" "$ivr_key" bench-caller "$work/probe10.wav" \
        --probe-secs 10 --secs 60 --max-p99-secs 1.0 --start-rate "${BENCH_START_RATE:-1}")
    ;;
upload)
    say call "Thank you for calling card services, my name is Sam. How can I help you today?"
    echo "call: $(soxi -D "$work/call.wav") s" >&2
    result=$(python3 scripts/bench_load.py upload "$url" "$ingest_key" "$work/call.wav" --rate 50 --secs 60 \
        --poll-key "$qa_key")
    ;;
*)
    echo "unknown mode $mode (verify|upload)" >&2
    exit 2
    ;;
esac
echo "$result"
echo "$(date -u +%FT%TZ) commit=$(git rev-parse --short HEAD) cores=$(nproc) $result" >>"$HOME/.cache/callsight/bench/load.log"
python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r.get("ok", r.get("held_rate_per_sec", 0) > 0) else 1)' "$result"
