# Callsight make targets. Building and testing are cargo's (see README); these are the extras.
.PHONY: bench bench-quick soak

# The evaluation and benchmark report: fetches the evaluation data from the registries, runs every
# measurement and writes eval/REPORT.md + eval/plots/*.svg (long: see docs/eval.md).
bench:
	scripts/bench.sh

# The same steps on small subsets (a smoke run); the report goes to
# ~/.cache/callsight/bench/quick/REPORT.md.
bench-quick:
	BENCH_QUICK=1 scripts/bench.sh

# Crash soak (issue 15): 200 calls on PostgreSQL, 3 workers, a random worker killed with kill -9
# every few seconds (>= 50 kills), the API killed mid-upload and mid-stream; then every call is
# checked to be analysed exactly once (see scripts/soak.sh; CALLSIGHT_TEST_QDRANT_URL adds biometrics).
soak:
	nice -n 10 scripts/soak.sh
