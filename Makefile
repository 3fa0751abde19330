# Two commands on a fresh machine: `make train` and `make test` (both bootstrap .venv first).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.litzoo-installed

.PHONY: train test test-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@# an older litzoo's venv has hydra-optuna-sweeper (optuna<3), whose hydra/sweeper=optuna would shadow litzoo's own
	$(BIN)/python -m pip uninstall --quiet --yes hydra-optuna-sweeper 2>/dev/null || true
	touch $(STAMP)

train: $(STAMP)            ## train the default experiment (digits, embedded data, no network)
	$(BIN)/litzoo-train $(ARGS)

# test files spread over the cores (pytest-xdist; a file's tests stay in one process: module fixtures train once)
PARALLEL := -n auto --maxprocesses 4 --dist loadfile

test: $(STAMP)             ## the default suite (~4 min on 2 cores)
	$(BIN)/python -m pytest -q $(PARALLEL) $(ARGS)

test-all: $(STAMP)         ## everything, slow tests included
	$(BIN)/python -m pytest -q $(PARALLEL) -m "slow or not slow" $(ARGS)

bench: $(STAMP)            ## litzoo vs a plain PyTorch loop (epoch, start-up, per-step overhead), recurrent dropout vs fused GRU
	$(BIN)/python benchmarks/bench_epoch.py $(ARGS)
	$(BIN)/python benchmarks/bench_overhead.py
	$(BIN)/python benchmarks/bench_recurrent.py --batches 20 --reps 2 --threads 1

clean:
	rm -rf $(VENV) .pytest_cache
