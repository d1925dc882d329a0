# Two commands: `make demo` runs the embedded demo world end to end, `make test` runs the tests.
# Both create .venv and install the pinned dependencies (requirements.lock) when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: demo test test-fast dryrun bench-kd-cache bench-train clean-demo

$(BIN)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

demo: $(BIN)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/snakemake --profile profiles/demo --cores $(CORES)

test: $(BIN)/.installed
	$(BIN)/pytest

test-fast: $(BIN)/.installed
	$(BIN)/pytest -m "not e2e and not slurm"

# The teacher-cache benchmark on the demo world: prints ratio_to_floor and nocache_over_cache.
# It times afresh (-R), after whatever it needs, so that no other job shares the machine with it.
bench-kd-cache: $(BIN)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/snakemake --profile profiles/demo --cores $(CORES) results/bench/kd_cache.json --forcerun time_distillation
	$(BIN)/python -m speedy.timing results/bench/kd_cache.json

# Training throughput on real sentence lengths (the AnCora dev fixture, BETO's vocabulary): length-grouped against
# random batches, for a fine-tune and a cached distillation. Prints the padding ratios, real tokens/s and the speedup.
bench-train: $(BIN)/.installed
	$(BIN)/python scripts/bench_train.py

dryrun: $(BIN)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/snakemake -n --quiet rules

clean-demo:
	rm -rf results logs benchmarks .snakemake
