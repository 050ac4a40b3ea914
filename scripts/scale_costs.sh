#!/usr/bin/env bash
# What one call costs the service, for docs/scaling.md: CPU seconds by stage (the report's
# `timings`, and /usr/bin/time for the whole process), database statements per call (a throwaway
# PostgreSQL cluster with log_statement=all behind `callsight serve`), and bytes stored per call
# (database growth and the recording). Usage: scripts/scale_costs.sh [MINUTES_OF_AUDIO=5]
# Runs on loopback only and cleans up after itself.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/env.sh"
minutes=${1:-5}
bin=${CALLSIGHT_BIN:?build first: cargo build --release --locked}
pg_bin=${CALLSIGHT_PG_BIN:-/usr/lib/postgresql/15/bin}
work=$(mktemp -d /tmp/callsight-scale-costs.XXXXXX)
chmod 755 "$work"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. A call of about $minutes minutes: the demo call (36 s, 8 kHz µ-law stereo) repeated.
"$here/make-demo-call.sh" "$work/demo.wav"
repeats=$(python3 -c "import math; print(math.ceil($minutes * 60 / 36))")
parts=(); for _ in $(seq "$repeats"); do parts+=("$work/demo.wav"); done
sox "${parts[@]}" "$work/call.wav"
audio_secs=$(soxi -D "$work/call.wav")
echo "call: $audio_secs s of audio, $(stat -c %s "$work/call.wav") bytes"

# 2. CPU by stage, one analysis on the CLI with the service's defaults (base model).
/usr/bin/time -v "$bin" analyze "$work/call.wav" --script "$here/../examples/card-services.json" \
  --format json > "$work/report.json" 2> "$work/time.txt"
python3 - "$work/report.json" "$work/time.txt" "$audio_secs" <<'EOF'
import json, re, sys
report = json.load(open(sys.argv[1]))
time_text = open(sys.argv[2]).read()
audio_secs = float(sys.argv[3])
user = float(re.search(r"User time \(seconds\): ([\d.]+)", time_text).group(1))
system = float(re.search(r"System time \(seconds\): ([\d.]+)", time_text).group(1))
wall = re.search(r"Elapsed \(wall clock\) time.*: ([\d:.]+)", time_text).group(1)
rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_text).group(1))
print(f"analyze: cpu {user + system:.1f} s (user {user:.1f}, sys {system:.1f}), wall {wall}, max rss {rss_kb / 1024:.0f} MiB")
print(f"analyze: cpu per audio minute {(user + system) / (audio_secs / 60):.2f} s")
print("report timings:", json.dumps(report.get("timings", {})))
print(f"report JSON: {len(json.dumps(report))} bytes")
EOF

# 3. Statements and bytes per call through the service on PostgreSQL.
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
mkdir -p "$work/pg" "$work/sock" && chown postgres:postgres "$work/pg" "$work/sock"
runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w \
  -o "-p $port -k $work/sock -c listen_addresses=127.0.0.1 -c log_statement=all -c log_line_prefix='%m [%p] '" start >/dev/null
url="postgres://postgres@127.0.0.1:$port/postgres"
export CALLSIGHT__SERVER__DATABASE_URL="$url" CALLSIGHT__STREAMS__ENABLED=false
key=$("$bin" keys create --data-dir "$work/data" --tenant acme --role admin | tail -n 1)
"$bin" serve --data-dir "$work/data" --listen 127.0.0.1:0 --workers 1 > "$work/serve.out" 2> "$work/serve.log" &
server_pid=$!
for _ in $(seq 600); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.5; done
addr=$(sed -n 's/^listening on http:\/\///p' "$work/serve.out")
curl -sf -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
  --data-binary @"$here/../examples/card-services.json" "http://$addr/v1/scripts" > /dev/null
db_size() { psql -h 127.0.0.1 -p "$port" -U postgres -At -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r','m')"; }
statements() { grep -cE "LOG:  (statement|execute)" "$work/pg/server.log" || true; }
upload() {
  curl -sf -H "Authorization: Bearer $key" -F "audio=@$work/call.wav" \
    -F "metadata={\"agent_id\":\"a-1\",\"customer_id\":\"c-$1\",\"script_id\":\"card-services\",\"enroll_customer_voice\":true};type=application/json" \
    "http://$addr/v1/calls" | python3 -c "import json,sys; print(json.load(sys.stdin)['call_id'])"
}
wait_analysed() {
  for _ in $(seq 1200); do
    status=$(curl -sf -H "Authorization: Bearer $key" "http://$addr/v1/calls/$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['status'])")
    [ "$status" = analyzed ] && return 0
    [ "$status" = failed ] && { echo "call $1 failed"; return 1; }
    sleep 1
  done
  return 1
}
# A first call warms up (the enrolment creates the voiceprint collection); the second is measured.
first=$(upload 1); wait_analysed "$first"
sleep 2
size_before=$(db_size); statements_before=$(statements); polls_before=$(grep -c "FROM calls WHERE tenant" "$work/pg/server.log" || true)
second=$(upload 2); wait_analysed "$second"
sleep 2
size_after=$(db_size); statements_after=$(statements); polls_after=$(grep -c "FROM calls WHERE tenant" "$work/pg/server.log" || true)
echo "postgres: $((statements_after - statements_before)) statements logged during one upload + analysis (including $((polls_after - polls_before)) status polls of this script and the worker's idle claims)"
echo "postgres: database grew by $((size_after - size_before)) bytes for one call (tables + indexes, page granularity)"
echo "audio stored: $(stat -c %s "$work/data/audio/$second".* 2>/dev/null || echo '?') bytes"
grep -E "LOG:  (statement|execute)" "$work/pg/server.log" | tail -n "$((statements_after - statements_before))" \
  | sed -E 's/.*LOG:  (statement|execute [^:]*): //' | cut -c1-60 | sort | uniq -c | sort -rn > "$work/statements.txt"
echo "statements by text (count, first 60 characters):"
cat "$work/statements.txt"
