#!/usr/bin/env bash
# Peak memory of analysing a long call: `/usr/bin/time -v callsight analyze` on a 4-hour call,
# mostly silence with the demo call's speech at the start, in the middle and at the end (voice
# activity drops the silence, so the run measures decoding, resampling and voice activity over
# four hours, not four hours of Whisper). Two kinds of file:
#   u8-8k   8-bit unsigned PCM stereo 8 kHz WAV (230 MB; issue 15's upload that peaked at 3.6 GB
#           was this format in mono, 115 MB)
#   mp3-44k 44.1 kHz stereo MP3 at 32 kbit/s (58 MB): the most samples per byte an upload can hold
#
#   scripts/bench_memory.sh [MODEL] [HOURS] [KIND]     (make bench-memory; defaults: base, 4, u8-8k)
#
# Prints the peak RSS (maximum resident set size) and wall time, and appends them to
# ~/.cache/callsight/bench/memory.log. Needs sox, espeak-ng (for the demo call) and the built
# binary (`cargo build --release --locked`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
model="${1:-base}"
hours="${2:-4}"
kind="${3:-u8-8k}"
work="${BENCH_MEMORY_DIR:-$HOME/.cache/callsight/bench/memory}"
mkdir -p "$work"
call="$work/long-${hours}h-u8-stereo-8k.wav"
if [ ! -s "$call" ]; then
    demo="$work/demo-call.wav"
    [ -s "$demo" ] || scripts/make-demo-call.sh "$demo"
    # The demo call as 8-bit unsigned stereo 8 kHz, and silence to fill the hours around it.
    sox "$demo" -r 8000 -c 2 -b 8 -e unsigned-integer "$work/speech.wav"
    speech_secs=$(soxi -D "$work/speech.wav")
    gap_secs=$(echo "($hours * 3600 - 3 * $speech_secs) / 2" | bc -l)
    sox -n -r 8000 -c 2 -b 8 -e unsigned-integer "$work/gap.wav" trim 0 "$gap_secs"
    sox "$work/speech.wav" "$work/gap.wav" "$work/speech.wav" "$work/gap.wav" "$work/speech.wav" "$call"
    rm -f "$work/speech.wav" "$work/gap.wav"
fi
if [ "$kind" = mp3-44k ]; then
    wav_call="$call"
    call="$work/long-${hours}h-stereo-44k.mp3"
    # 5 s short of the hours: the encoder's padding must not take it past the duration limit.
    [ -s "$call" ] || sox "$wav_call" -r 44100 -C 32 "$call" trim 0 $((hours * 3600 - 5))
fi
echo "input: $call ($(du -m "$call" | cut -f1) MB, $(soxi -d "$call"), $(soxi -b "$call")-bit $(soxi -e "$call" | head -1), $(soxi -c "$call") channels, $(soxi -r "$call") Hz)" >&2
report="$work/report.json"
timing="$work/time.txt"
/usr/bin/time -v -o "$timing" "$CALLSIGHT_BIN" analyze "$call" --model "$model" --language en --format json >"$report"
peak_kb=$(grep "Maximum resident set size" "$timing" | grep -oE "[0-9]+$")
wall=$(grep "Elapsed (wall clock) time" "$timing" | awk '{print $NF}')
turns=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['turns']))" "$report")
line="$(date -u +%FT%TZ) model=$model hours=$hours kind=$kind peak_rss_mb=$((peak_kb / 1024)) wall=$wall turns=$turns commit=$(git rev-parse --short HEAD)"
echo "$line" | tee -a "$work/../memory.log"
