# Two commands: `make demo` runs the embedded demo world end to end, `make test` runs the tests.
# Both create .venv and install the pinned dependencies (requirements.lock) when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

.PHONY: demo report test test-fast dryrun plan check-sources bench-kd-cache bench-train bench-dryrun clean-demo

$(BIN)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

demo: $(BIN)/.installed
	$(OFFLINE) $(BIN)/snakemake --profile profiles/demo --cores $(CORES)

# The demo's Snakemake report: one self-contained HTML file with every table and figure and their captions.
report: $(BIN)/.installed
	$(OFFLINE) $(BIN)/snakemake --profile profiles/demo --report results/demo/report.html

test: $(BIN)/.installed
	$(BIN)/pytest

test-fast: $(BIN)/.installed
	$(BIN)/pytest -m "not e2e and not slurm"

# The paper's full DAG, planned offline.
dryrun: $(BIN)/.installed
	$(OFFLINE) $(BIN)/snakemake -n --quiet rules

# The paper's resource plan, offline: results/plan/resources.csv and summary.md (GPU-hours per stage).
plan: $(BIN)/.installed
	$(OFFLINE) $(BIN)/snakemake --cores 1 plan --forcerun plan

# The state of every model and dataset source of the paper config: results/sources/sources.md.
check-sources: $(BIN)/.installed
	$(BIN)/snakemake --cores 1 check_sources --forcerun check_sources

# The teacher-cache benchmark on the demo world: prints ratio_to_floor and nocache_over_cache.
# It times afresh, after whatever it needs, so that no other job shares the machine with it.
bench-kd-cache: $(BIN)/.installed
	$(OFFLINE) $(BIN)/snakemake --profile profiles/demo --cores $(CORES) results/demo/bench/kd_cache.json --forcerun time_distillation
	$(BIN)/python -m speedy.kd_timing results/demo/bench/kd_cache.json

# Training throughput on real sentence lengths (the AnCora dev fixture, BETO's vocabulary): length-grouped against
# random batches, for a fine-tune and a cached distillation. Prints the padding ratios, real tokens/s and the speedup.
bench-train: $(BIN)/.installed
	$(BIN)/python bench/train.py

# Planning cost: the paper DAG's dry run against a bare Snakefile with the same jobs. Prints the ratio.
bench-dryrun: $(BIN)/.installed
	$(BIN)/python bench/dryrun.py

clean-demo:
	rm -rf results/demo
