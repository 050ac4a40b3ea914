#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that sees outside bytes (cargo-fuzz + libFuzzer on the
# nightly toolchain), one target at a time, niced.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (make fuzz FUZZ_SECS=... FUZZ_TARGETS=...)
#
# Each target runs until FUZZ_RUNS executions (default 10 million) or SECONDS_PER_TARGET (default
# 60) have passed, whichever comes first, with libFuzzer's RSS limit of 2048 MB and a 10 s timeout
# per input: a crash, a timeout or an out-of-memory stops the run and fails the script, the input
# is left in fuzz/artifacts/<target>/. New inputs go to fuzz/corpus-work/<target>/ (ignored by
# git); with FUZZ_MINIMIZE=1 the committed corpus fuzz/corpus/<target>/ is replaced by the
# minimised union of both (`cargo fuzz cmin`). A per-target summary (executions, seconds, coverage)
# is appended to fuzz/runs.log.
#
# A crash becomes a regression: fix it, then copy the input to fuzz/regressions/<target>/; the
# replay tests (pipeline/tests/it/fuzz_corpus.rs, api/tests/it/fuzz_corpus.rs) run it with every
# `cargo test`, on any toolchain, without cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# Its own target directory: a fuzz run holds cargo's build lock for as long as it runs, which
# would stall every build and test sharing the main one (and the instrumented builds share no
# artifacts with it anyway).
export CARGO_TARGET_DIR="$HOME/.cache/callsight/fuzz-target"

# Fast targets first.
ALL_TARGETS=(range_header query_string stream_message upload_metadata stream_audio compliance_script audio_file audio_compressed)
secs_per_target="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")
runs="${FUZZ_RUNS:-10000000}"
# Rust code here is memory-safe (`unsafe_code = "forbid"`); what the fuzzer hunts is panics,
# hangs and runaway allocation, which need no sanitizer. FUZZ_SANITIZER=address adds ASan for the
# dependencies' unsafe code, at about half the speed.
sanitizer="${FUZZ_SANITIZER:-none}"

tools_dir="$HOME/.cache/callsight/tools"
export PATH="$tools_dir/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz into $tools_dir" >&2
    cargo install cargo-fuzz --locked --root "$tools_dir"
fi

log=fuzz/runs.log
status=0
for target in "${targets[@]}"; do
    work="fuzz/corpus-work/$target"
    mkdir -p "$work" "fuzz/artifacts/$target"
    out="$(mktemp)"
    echo "== $target: up to $runs runs or $secs_per_target s" >&2
    # Symphonia panics that the audio wrapper catches print to stderr at thousands per second;
    # the audio targets close the target's stderr (libFuzzer's own report still comes through,
    # and a crashing input is replayed with its message by the corpus tests).
    quiet=()
    case "$target" in audio_*) quiet=(-close_fd_mask=2) ;; esac
    started=$(date +%s)
    set +e
    nice -n 10 cargo fuzz run --sanitizer "$sanitizer" --debug-assertions "$target" "$work" "fuzz/corpus/$target" -- \
        -runs="$runs" -max_total_time="$secs_per_target" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 "${quiet[@]}" 2>&1 | tee "$out" | grep -E "^#[0-9]+[[:space:]]+(DONE|pulse|INITED)|ERROR|SUMMARY|panicked" >&2
    rc=${PIPESTATUS[0]}
    set -e
    elapsed=$(( $(date +%s) - started ))
    executions=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$out" | grep -oE "[0-9]+$" | tail -1)
    coverage=$(grep -oE "cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*" "$out" | tail -1)
    peak_rss=$(grep -oE "stat::peak_rss_mb: *[0-9]+" "$out" | grep -oE "[0-9]+$" | tail -1)
    line="$(date -u +%FT%TZ) $target rc=$rc executions=${executions:-?} secs=$elapsed peak_rss_mb=${peak_rss:-?} ${coverage:-no coverage line} sanitizer=$sanitizer"
    echo "$line" | tee -a "$log" >&2
    if [ "$rc" -ne 0 ]; then
        echo "!! $target failed (rc=$rc): see $out and fuzz/artifacts/$target/" >&2
        status=1
        continue
    fi
    rm -f "$out"
    if [ "${FUZZ_MINIMIZE:-0}" = 1 ]; then
        cp -n "fuzz/corpus/$target"/* "$work"/ 2>/dev/null || true
        nice -n 10 cargo fuzz cmin --sanitizer "$sanitizer" --debug-assertions "$target" "$work" -- -rss_limit_mb=2048 -timeout=10 >/dev/null 2>&1
        rm -rf "fuzz/corpus/$target"
        cp -r "$work" "fuzz/corpus/$target"
        echo "   corpus of $target minimised: $(ls "fuzz/corpus/$target" | wc -l) files, $(du -sh "fuzz/corpus/$target" | cut -f1)" >&2
    fi
done
exit $status
