# Callsight make targets. Building and testing are cargo's (see README); these are the extras.
.PHONY: bench bench-quick fuzz bench-memory bench-load-verify bench-load-upload soak

# The evaluation and benchmark report: fetches the evaluation data from the registries, runs every
# measurement and writes eval/REPORT.md + eval/plots/*.svg (long: see docs/eval.md).
bench:
	scripts/bench.sh

# The same steps on small subsets (a smoke run); the report goes to
# ~/.cache/callsight/bench/quick/REPORT.md.
bench-quick:
	BENCH_QUICK=1 scripts/bench.sh

# Coverage-guided fuzzing of every parser that sees outside bytes, one target after another
# (scripts/fuzz.sh; README "Fuzzing"): FUZZ_SECS per target (default 60), FUZZ_TARGETS to pick.
fuzz:
	scripts/fuzz.sh $(or $(FUZZ_SECS),60) $(FUZZ_TARGETS)

# Peak RSS of analysing a 4-hour 8-bit stereo call (scripts/bench_memory.sh; MODEL=base by default).
bench-memory:
	scripts/bench_memory.sh $(or $(MODEL),base)

# Highest verification rate held for 60 s with 0 errors and p99 < 1 s (scripts/bench_load.sh).
bench-load-verify:
	scripts/bench_load.sh verify

# Uploads at 50/s for 60 s: only 202 or 429/503 with Retry-After, every 202 analysed.
bench-load-upload:
	scripts/bench_load.sh upload

# Crash soak (issue 15): 200 calls on PostgreSQL, 3 workers, a random worker killed with kill -9
# every few seconds (>= 50 kills), the API killed mid-upload and mid-stream; then every call is
# checked to be analysed exactly once (see scripts/soak.sh; CALLSIGHT_TEST_QDRANT_URL adds biometrics).
soak:
	nice -n 10 scripts/soak.sh
