# Two commands on a fresh machine: `make train` and `make test` (both bootstrap .venv first).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.litzoo-installed

.PHONY: train test test-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

train: $(STAMP)            ## train the default experiment (digits, embedded data, no network)
	$(BIN)/litzoo-train $(ARGS)

test: $(STAMP)             ## the default suite (< 5 min on 2 cores)
	$(BIN)/python -m pytest -q $(ARGS)

test-all: $(STAMP)         ## everything, slow tests included
	$(BIN)/python -m pytest -q -m "slow or not slow" $(ARGS)

bench: $(STAMP)            ## framework epoch vs a plain PyTorch loop, same model and data
	$(BIN)/python benchmarks/bench_epoch.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
