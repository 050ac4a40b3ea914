# Callsight make targets. Building and testing are cargo's (see README); these are the extras.
.PHONY: bench bench-quick

# The evaluation and benchmark report: fetches the evaluation data from the registries, runs every
# measurement and writes eval/REPORT.md + eval/plots/*.svg (long: see docs/eval.md).
bench:
	scripts/bench.sh

# The same steps on small subsets (a smoke run); the report goes to
# ~/.cache/callsight/bench/quick/REPORT.md.
bench-quick:
	BENCH_QUICK=1 scripts/bench.sh
