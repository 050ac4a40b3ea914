#!/usr/bin/env bash
# Synthesises a short two-party demo call (agent left, customer right) as 8 kHz µ-law stereo,
# the usual format of a contact-centre recorder. Usage: scripts/make-demo-call.sh OUT.wav
set -euo pipefail
out=${1:?usage: make-demo-call.sh OUT.wav}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { espeak-ng -v "$1" -s 155 -w "$work/$2.wav" "$3"; }
say en-us a1 "Thank you for calling card services, my name is Sam. This call may be recorded for quality and training purposes."
say en-gb-x-rp+f3 c1 "Hi, I was charged twice for the same order and I am really annoyed about it."
say en-us a2 "I am sorry to hear that. Can you confirm your date of birth please?"
say en-gb-x-rp+f3 c2 "Yes, it is the fourth of July nineteen eighty."
say en-us a3 "Thank you. I have refunded the second charge. Is there anything else I can help you with?"
say en-gb-x-rp+f3 c3 "No, that is great, thank you so much for your help."
# place each line at its start time on its party's track
track() { # name start_secs files...
  local name=$1; shift; local parts=()
  local at=0
  while [ $# -gt 0 ]; do
    local start=$1 file=$2; shift 2
    local len; len=$(soxi -D "$file")
    local gap; gap=$(echo "$start - $at" | bc -l)
    sox -n -r 22050 -c 1 -b 16 "$work/gap-$name-$start.wav" trim 0 "$gap"
    parts+=("$work/gap-$name-$start.wav" "$file")
    at=$(echo "$start + $len" | bc -l)
  done
  sox "${parts[@]}" "$work/$name.wav" pad 0 2
}
track agent 0.5 "$work/a1.wav" 13 "$work/a2.wav" 24 "$work/a3.wav"
track customer 8 "$work/c1.wav" 19 "$work/c2.wav" 31 "$work/c3.wav"
sox -M "$work/agent.wav" "$work/customer.wav" -r 8000 -e u-law -b 8 "$out"
