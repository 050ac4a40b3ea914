#!/usr/bin/env bash
# Crash soak (issue 15): on a throwaway PostgreSQL cluster, one API process (`callsight serve
# --workers 0`) and SOAK_WORKERS `callsight worker` processes analyse SOAK_CALLS uploaded calls
# while a random worker is killed with `kill -9` every SOAK_KILL_MIN_SECS..SOAK_KILL_MAX_SECS
# seconds (and restarted), at least SOAK_MIN_KILLS times. The API process itself is killed with
# `kill -9` twice in the middle of an upload and once in the middle of a live stream, and
# restarted each time. Then it checks, in the database:
#   - every acknowledged upload (202, or 409 on the retry: stored before the ack was lost) is one
#     call with one job, done, one report and one `call.analyzed` event; nothing else was stored
#     but the cut-off stream's recording, which became a call and was analysed;
#   - no job is left queued, running or dead (a dead one is listed with its reason);
#   - every watchlist hit of a call is audited once and every passive enrolment once
#     (only with a Qdrant server: workers need a shared voiceprint index for biometrics).
# Prints the counts; exits 1 if any check fails.
#
# Usage: scripts/soak.sh (or `make soak`). Needs the release build ($CALLSIGHT_BIN), the models,
# PostgreSQL 15 binaries, espeak-ng and sox (all from setup.sh). Optional environment:
#   SOAK_CALLS=200 SOAK_WORKERS=3 SOAK_MIN_KILLS=50 SOAK_KILL_MIN_SECS=2 SOAK_KILL_MAX_SECS=5
#   SOAK_MAX_SECS=5400 (give up after this long), SOAK_KEEP=1 (keep the work directory),
#   SOAK_MAX_ATTEMPTS=20 (workers.max_attempts: repeated kills must not dead-letter a job),
#   CALLSIGHT_TEST_QDRANT_URL=http://127.0.0.1:6334 (gRPC URL of a Qdrant server: workers then
#   screen and enrol voices; without it they run --without-biometrics and say so).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

N_CALLS=${SOAK_CALLS:-200}
N_WORKERS=${SOAK_WORKERS:-3}
MIN_KILLS=${SOAK_MIN_KILLS:-50}
KILL_MIN_SECS=${SOAK_KILL_MIN_SECS:-2}
KILL_MAX_SECS=${SOAK_KILL_MAX_SECS:-5}
MAX_SECS=${SOAK_MAX_SECS:-5400}
QDRANT_URL=${CALLSIGHT_TEST_QDRANT_URL:-}
PG_BIN=${CALLSIGHT_PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$CALLSIGHT_BIN" ] || { echo "soak: no binary at $CALLSIGHT_BIN (cargo build --release first)" >&2; exit 2; }
for tool in espeak-ng sox psql curl python3; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is missing (setup.sh installs it)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/callsight-soak.XXXXXX)
chmod 755 "$WORK"  # the postgres user must reach its directory inside
DATA=$WORK/data; LOGS=$WORK/logs; SYNTH=$WORK/synth
mkdir -p "$DATA" "$LOGS" "$SYNTH" "$WORK/pg"
started_at=$(date +%s)
say() { printf '[%5ds] %s\n' "$(( $(date +%s) - started_at ))" "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- PostgreSQL (as the postgres user when run as root: it refuses root) -------------------------
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$WORK/pg"
PG_PORT=$(free_port)
as_pg "$PG_BIN/initdb" -D "$WORK/pg/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$LOGS/initdb.log"
as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w -t 60 \
  -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/soak"
as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres soak
sql() { psql "$DB_URL" -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }

# --- Processes: every one this script starts is remembered and ended by its pid ---------------
API_PID=""; API_GEN=0
declare -a WORKER_PIDS=()
declare -a WORKER_GENS=()
UPLOADER_PID=""; STREAM_PID=""
cleanup() {
  for pid in "$UPLOADER_PID" "$STREAM_PID" "$API_PID" "${WORKER_PIDS[@]}"; do
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "soak: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so an interrupted soak still ends its processes and cluster

export CALLSIGHT__SERVER__DATABASE_URL=$DB_URL
export CALLSIGHT__ANALYSIS__MODEL=tiny.en
export CALLSIGHT__WORKERS__LEASE_SECS=6
export CALLSIGHT__WORKERS__HEARTBEAT_SECS=2
# Kills every few seconds hit the same job again and again; the default 3 attempts would
# dead-letter it as a poison job, which is not what this measures.
export CALLSIGHT__WORKERS__MAX_ATTEMPTS=${SOAK_MAX_ATTEMPTS:-20}
export CALLSIGHT__BIOMETRICS__MIN_ENROL_NET_SPEECH_SECS=3
export CALLSIGHT__SERVER__WEBHOOKS_ALLOW_PRIVATE_TARGETS=true
export CALLSIGHT__SERVER__RATE_LIMIT_PER_MINUTE=100000
export CALLSIGHT_LOG=warn,callsight_workers=info
export NO_COLOR=1
WORKER_FLAGS=()
if [ -n "$QDRANT_URL" ]; then
  export CALLSIGHT__VOICEPRINTS__BACKEND=server
  export CALLSIGHT__VOICEPRINTS__URL=$QDRANT_URL
  export CALLSIGHT__VOICEPRINTS__COLLECTION_PREFIX="soak_$$_$(date +%s)_"
  say "voiceprints: Qdrant server $QDRANT_URL (collections $CALLSIGHT__VOICEPRINTS__COLLECTION_PREFIX*)"
else
  WORKER_FLAGS=(--without-biometrics)
  echo "**********************************************************************"
  echo "SKIPPED: biometrics in the workers (watchlist screening, passive enrolment)"
  echo "need a Qdrant server; set CALLSIGHT_TEST_QDRANT_URL. Workers run"
  echo "--without-biometrics; the kill/restart checks still run."
  echo "**********************************************************************"
fi

API_PORT=$(free_port)
API="http://127.0.0.1:$API_PORT"
start_api() {
  API_GEN=$((API_GEN + 1))
  "$CALLSIGHT_BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$API_PORT" --workers 0 \
    >"$LOGS/api-$API_GEN.out" 2>"$LOGS/api-$API_GEN.log" &
  API_PID=$!
  for _ in $(seq 1 900); do
    if curl -fsS -o /dev/null "$API/readyz" 2>/dev/null; then return 0; fi
    kill -0 "$API_PID" 2>/dev/null || { echo "soak: the API exited at start:"; tail -20 "$LOGS/api-$API_GEN.log"; exit 1; }
    sleep 0.2
  done
  echo "soak: the API did not become ready"; exit 1
}
start_worker() { # slot
  local slot=$1
  WORKER_GENS[slot]=$(( ${WORKER_GENS[slot]:-0} + 1 ))
  "$CALLSIGHT_BIN" worker --data-dir "$DATA" --concurrency 1 "${WORKER_FLAGS[@]}" \
    >/dev/null 2>"$LOGS/worker-$slot-${WORKER_GENS[slot]}.log" &
  WORKER_PIDS[slot]=$!
}

# --- Calls: the demo call cut to 10..13 s, at 0.95..1.16x tempo; two of every eight with the
# parties' channels swapped, so their customer speaks in the voice put on the watchlist ---------
scripts/make-demo-call.sh "$SYNTH/demo.wav"
N_VARIANTS=8
for v in $(seq 0 $((N_VARIANTS - 1))); do
  tempo=$(echo "0.95 + 0.03 * $v" | bc -l)
  remix=()
  if [ $((v % 4)) = 3 ]; then remix=(remix 2 1); fi
  sox "$SYNTH/demo.wav" -e u-law "$SYNTH/call-$v.wav" trim 0 $((10 + v % 4)) tempo -s "$tempo" "${remix[@]}"
done
espeak-ng -v en-us -s 155 -w "$SYNTH/fraud-raw.wav" \
  "I lost my card yesterday and I need a new one sent to a different address. My mother's maiden name is Johnson. Please hurry, I need the money transferred today."
sox "$SYNTH/fraud-raw.wav" -r 16000 -c 1 -b 16 "$SYNTH/fraud.wav"
say "synthesised $N_VARIANTS call variants"

# --- Keys, the API, a webhook, the watchlist, the workers ---------------------------------------
ADMIN=$("$CALLSIGHT_BIN" keys create --data-dir "$DATA" --tenant soak --role admin 2>/dev/null | tail -1)
INGEST=$("$CALLSIGHT_BIN" keys create --data-dir "$DATA" --tenant soak --role ingest 2>/dev/null | tail -1)
start_api
say "API pid $API_PID on $API"
# Deliveries go to a closed port and are retried: the outbox rows are what is counted.
curl -fsS -o /dev/null -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d '{"url": "http://127.0.0.1:9/hook", "events": ["call.analyzed"]}' "$API/v1/webhooks"
curl -fsS -o /dev/null -H "Authorization: Bearer $ADMIN" -F "audio=@$SYNTH/fraud.wav;type=audio/wav" \
  "$API/v1/watchlist/fraud-1"
for slot in $(seq 0 $((N_WORKERS - 1))); do start_worker "$slot"; done
say "workers ${WORKER_PIDS[*]}"

# --- Uploader (background): every call until acknowledged; a cut connection is retried --------
: >"$WORK/accepted.tsv"; : >"$WORK/cut.tsv"
upload_all() {
  local i=0
  while [ "$i" -lt "$N_CALLS" ]; do
    local v=$((i % N_VARIANTS)) external="soak-$i"
    local metadata="{\"external_call_id\":\"$external\",\"channels\":\"agent,customer\",\"customer_id\":\"cust-$((i % 20))\",\"enroll_customer_voice\":true,\"language\":\"en\",\"agent_id\":\"agent-$((i % 7))\"}"
    echo "$i" >"$WORK/inflight"
    local code
    code=$(curl -s -o "$WORK/upload.json" -w '%{http_code}' --limit-rate 300k --max-time 120 \
      -H "Authorization: Bearer $INGEST" -F "audio=@$SYNTH/call-$v.wav;type=audio/wav" \
      -F "metadata=$metadata;type=application/json" "$API/v1/calls" || true)
    rm -f "$WORK/inflight"
    case "$code" in
      202) printf '%s\t%s\t202\n' "$i" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["call_id"])' "$WORK/upload.json")" >>"$WORK/accepted.tsv"; i=$((i + 1)) ;;
      409) # stored by an earlier try whose answer was lost
        printf '%s\t%s\t409\n' "$i" "$(sql "SELECT id FROM calls WHERE external_call_id = '$external'")" >>"$WORK/accepted.tsv"; i=$((i + 1)) ;;
      429|503) sleep 2 ;;
      *) printf '%s\t%s\n' "$i" "$code" >>"$WORK/cut.tsv"; sleep 0.5 ;;
    esac
  done
  echo done >"$WORK/uploads-done"
}
upload_all &
UPLOADER_PID=$!

# --- Killers ---------------------------------------------------------------------------------
kills=0; kills_mid_job=0; api_kills_mid_upload=0; api_kill_mid_stream=0; stream_started=0
api_kill_marks=("$((N_CALLS * 3 / 10))" "$((N_CALLS * 7 / 10))")
restart_api_after_kill() {
  kill -9 "$API_PID" 2>/dev/null || true
  wait "$API_PID" 2>/dev/null || true
  start_api
}
pending_jobs() { sql "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')"; }
deadline=$((started_at + MAX_SECS))
while :; do
  sleep "$(python3 -c "import random; print(round(random.uniform($KILL_MIN_SECS, $KILL_MAX_SECS), 2))")"
  now=$(date +%s)
  if [ "$now" -gt "$deadline" ]; then say "gave up after ${MAX_SECS}s"; break; fi
  uploads_done=0; [ -f "$WORK/uploads-done" ] && uploads_done=1
  pending=$(pending_jobs)
  if [ "$uploads_done" = 1 ] && [ "$stream_started" = 2 ] && [ "$pending" = 0 ]; then break; fi
  # A random worker, killed mid-job if it holds one; restarted at once. After SOAK_MIN_KILLS
  # the queue drains without kills (on a slow machine jobs outlast the kill interval).
  if [ "$kills" -lt "$MIN_KILLS" ]; then
    slot=$((RANDOM % N_WORKERS)); victim=${WORKER_PIDS[slot]}
    held=$(sql "SELECT count(*) FROM jobs WHERE state = 'running' AND lease_owner LIKE '%:$victim/%'")
    kill -9 "$victim" 2>/dev/null || true
    wait "$victim" 2>/dev/null || true
    kills=$((kills + 1)); [ "$held" != 0 ] && kills_mid_job=$((kills_mid_job + 1))
    start_worker "$slot"
  fi
  # The API, killed while an upload is being received.
  accepted=$(wc -l <"$WORK/accepted.tsv")
  if [ "$api_kills_mid_upload" -lt "${#api_kill_marks[@]}" ] && [ "$accepted" -ge "${api_kill_marks[$api_kills_mid_upload]}" ]; then
    for _ in $(seq 1 100); do [ -f "$WORK/inflight" ] && break; sleep 0.05; done
    sleep 0.2
    if [ -f "$WORK/inflight" ]; then
      say "kill -9 API pid $API_PID mid-upload of call $(cat "$WORK/inflight" 2>/dev/null)"
      restart_api_after_kill
      api_kills_mid_upload=$((api_kills_mid_upload + 1))
      say "API restarted: pid $API_PID"
    fi
  fi
  # The API, killed while a live stream is being received (after the uploads).
  if [ "$uploads_done" = 1 ] && [ "$stream_started" = 0 ]; then
    "$CALLSIGHT_BIN" stream "$SYNTH/call-1.wav" --url "ws://127.0.0.1:$API_PORT/v1/streams" --key "$INGEST" \
      --realtime --external-call-id soak-stream --channels agent,customer >"$LOGS/stream.out" 2>"$LOGS/stream.log" &
    STREAM_PID=$!
    stream_started=1
    sleep 6
    if kill -0 "$STREAM_PID" 2>/dev/null; then
      say "kill -9 API pid $API_PID mid-stream"
      restart_api_after_kill
      api_kill_mid_stream=1
      say "API restarted: pid $API_PID"
    fi
    wait "$STREAM_PID" 2>/dev/null || true
    STREAM_PID=""
    stream_started=2
  fi
  if [ $((kills % 10)) = 0 ] || [ "$kills" -ge "$MIN_KILLS" ]; then say "$kills worker kills ($kills_mid_job mid-job), $accepted accepted, $pending jobs pending"; fi
done
wait "$UPLOADER_PID" 2>/dev/null || true
UPLOADER_PID=""
say "soak over: $kills worker kills ($kills_mid_job mid-job), API killed $api_kills_mid_upload x mid-upload, $api_kill_mid_stream x mid-stream"

# --- Checks -------------------------------------------------------------------------------------
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
n_acked=$(cut -f1 "$WORK/accepted.tsv" | sort -u | wc -l)
n_cut=$(wc -l <"$WORK/cut.tsv")
[ "$n_acked" = "$N_CALLS" ] || fail "$n_acked of $N_CALLS uploads acknowledged"
acked_ids=$(cut -f2 "$WORK/accepted.tsv" | sort -u | sed "s/.*/'&'/" | paste -sd, -)
acked_distinct=$(cut -f2 "$WORK/accepted.tsv" | sort -u | wc -l)
[ "$acked_distinct" = "$N_CALLS" ] || fail "acknowledged call ids: $acked_distinct distinct for $N_CALLS calls"
n_409=$(awk -F'\t' '$3 == 409' "$WORK/accepted.tsv" | wc -l)
calls_total=$(sql "SELECT count(*) FROM calls")
calls_unacked=$(sql "SELECT count(*) FROM calls WHERE id NOT IN ($acked_ids) AND external_call_id IS DISTINCT FROM 'soak-stream'")
[ "$calls_unacked" = 0 ] || fail "$calls_unacked stored calls were never acknowledged: $(sql "SELECT string_agg(id || ' ' || coalesce(external_call_id, '-'), ', ') FROM calls WHERE id NOT IN ($acked_ids)")"
per_call="SELECT c.id, c.status,
  (SELECT count(*) FROM jobs j WHERE j.call_id = c.id) AS jobs,
  (SELECT count(*) FROM jobs j WHERE j.call_id = c.id AND j.state = 'done') AS done,
  (SELECT coalesce(max(attempts), 0) FROM jobs j WHERE j.call_id = c.id) AS attempts,
  (SELECT count(*) FROM reports r WHERE r.call_id = c.id) AS reports,
  (SELECT count(*) FROM webhook_deliveries d WHERE d.event = 'call.analyzed' AND d.payload::json -> 'data' ->> 'call_id' = c.id) AS events
  FROM calls c"
read -r analysed not_analysed bad_jobs bad_reports bad_events retried max_attempts <<<"$(sql "SELECT
  count(*) FILTER (WHERE status = 'analyzed'), count(*) FILTER (WHERE status <> 'analyzed'),
  count(*) FILTER (WHERE jobs <> 1 OR done <> 1), count(*) FILTER (WHERE reports <> 1),
  count(*) FILTER (WHERE events <> 1), count(*) FILTER (WHERE attempts > 1), coalesce(max(attempts), 0)
  FROM ($per_call) p" | tr '|' ' ')"
[ "$not_analysed" = 0 ] || fail "$not_analysed calls not analysed: $(sql "SELECT string_agg(id || ' ' || status || ' ' || coalesce(error, ''), '; ') FROM calls WHERE status <> 'analyzed'")"
[ "$bad_jobs" = 0 ] || fail "$bad_jobs calls without exactly one done job"
[ "$bad_reports" = 0 ] || fail "$bad_reports calls without exactly one report"
[ "$bad_events" = 0 ] || fail "$bad_events calls without exactly one call.analyzed event: $(sql "SELECT string_agg(id || '=' || events, ', ') FROM ($per_call) p WHERE events <> 1")"
jobs_not_done=$(sql "SELECT count(*) FROM jobs WHERE state <> 'done'")
[ "$jobs_not_done" = 0 ] || fail "jobs not done: $(sql "SELECT string_agg(state || ' (' || coalesce(last_error, 'no reason') || ')', '; ') FROM jobs WHERE state <> 'done'")"
stream_calls=$(sql "SELECT count(*) FROM calls WHERE external_call_id = 'soak-stream' AND status = 'analyzed'")
stream_secs=$(sql "SELECT coalesce(round(max(duration_secs)::numeric, 1), 0) FROM calls WHERE external_call_id = 'soak-stream'")
if [ "$api_kill_mid_stream" = 1 ]; then
  [ "$stream_calls" = 1 ] || fail "the stream cut by the API kill is not one analysed call ($stream_calls)"
fi
audit_total=$(sql "SELECT count(*) FROM audit WHERE details::json ->> 'call_id' IS NOT NULL")
audit_dupes=$(sql "SELECT count(*) FROM (SELECT details::json ->> 'call_id', action FROM audit
  WHERE details::json ->> 'call_id' IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d")
[ "$audit_dupes" = 0 ] || fail "$audit_dupes (call, action) pairs audited more than once: $(sql "SELECT string_agg(c || ':' || a || '=' || n, ', ') FROM (SELECT details::json ->> 'call_id' AS c, action AS a, count(*) AS n FROM audit WHERE details::json ->> 'call_id' IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d")"
screened=$(sql "SELECT count(DISTINCT details::json ->> 'call_id') FROM audit WHERE action = 'screen'")
flagged_hits=$(sql "SELECT count(*) FROM reports WHERE report LIKE '%\"watchlist_hit\"%'")
enrol_audited=$(sql "SELECT count(DISTINCT details::json ->> 'call_id') FROM audit WHERE action = 'enrol' AND details::json ->> 'source' = 'passive'")
enrolled=$(sql "SELECT count(*) FROM audit WHERE action = 'enrol' AND outcome = 'enrolled' AND details::json ->> 'source' = 'passive'")
if [ -n "$QDRANT_URL" ]; then
  [ "$screened" = "$flagged_hits" ] || fail "$flagged_hits calls flagged watchlist_hit but $screened screening hits audited"
  # Every upload asks for passive enrolment; the cut-off stream's call does not.
  [ "$enrol_audited" = "$((analysed - stream_calls))" ] || fail "$enrol_audited of $((analysed - stream_calls)) analysed uploads have their passive enrolment audited"
  [ "$flagged_hits" -gt 0 ] || fail "no call matched the watchlist (the swapped calls should)"
else
  [ "$audit_total" = 0 ] || fail "workers without biometrics audited $audit_total call actions"
fi
[ "$kills" -ge "$MIN_KILLS" ] || fail "only $kills worker kills (wanted >= $MIN_KILLS): the calls were done first"

# What the calls left behind, per analysed call (docs/scaling.md, "bytes stored").
db_bytes=$(sql "SELECT pg_database_size(current_database())")
reports_bytes=$(sql "SELECT pg_total_relation_size('reports')")
audio_bytes=$(du -sb "$DATA" | cut -f1)
transactions=$(sql "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
per_call() { echo $(( $1 / (analysed > 0 ? analysed : 1) )); }

cat <<EOF

=== crash soak: $(date -u +%FT%TZ), $(( $(date +%s) - started_at )) s, $(nproc) cores ===
calls uploaded/acknowledged      $N_CALLS / $n_acked ($n_409 acknowledged by 409 on a retry; $n_cut tries cut off or refused)
calls stored / analysed          $calls_total / $analysed (+ the stream: $stream_calls analysed call, $stream_secs s kept)
worker kills (kill -9)           $kills ($kills_mid_job while holding a job), workers: $N_WORKERS
API kills (kill -9)              $api_kills_mid_upload mid-upload, $api_kill_mid_stream mid-stream
jobs taken over (attempts > 1)   $retried (max attempts on one job: $max_attempts)
jobs not done                    $jobs_not_done
calls with jobs != 1 / reports != 1 / call.analyzed events != 1   $bad_jobs / $bad_reports / $bad_events
audit entries about calls        $audit_total (duplicated (call, action) pairs: $audit_dupes)
watchlist hits: flagged / audited $flagged_hits / $screened
passive enrolments audited       $enrol_audited calls ($enrolled enrolled)
biometrics in workers            $([ -n "$QDRANT_URL" ] && echo "on (Qdrant $QDRANT_URL)" || echo "SKIPPED (no CALLSIGHT_TEST_QDRANT_URL)")
stored per analysed call         database $(per_call "$db_bytes") B (reports table $(per_call "$reports_bytes") B), data directory (audio, transcripts) $(per_call "$audio_bytes") B
transactions committed           $transactions ($(per_call "$transactions") per analysed call, idle polling of $N_WORKERS workers included)
failures                         $failures
EOF
[ "$failures" = 0 ]
