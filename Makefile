# Water: the two commands a newcomer needs are `make demo` and `make test`.
# Each bootstraps a local virtual environment (.venv) on first use: `make demo`
# installs Water and its runtime dependencies only; `make test` (and `make lint`)
# add the test and lint tools.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: demo test lint check bench chaos clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# '.[dev]' includes the runtime, so it stamps both
$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUNTIME)

demo: $(RUNTIME)  ## install Water, then run the main example
	$(BIN)/python examples/quickstart.py

test: $(DEV)  ## install what the tests need, then run them
	$(BIN)/python -m pytest

lint: $(DEV)  ## ruff, mypy and the import-layer contract
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint test

bench: $(RUNTIME)
	$(BIN)/python bench/bench.py

chaos: $(RUNTIME)  ## 100 SIGKILLs of a busy process; prints what was lost, redone or stuck
	$(BIN)/python tests/soak/chaos.py --kills 100

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
