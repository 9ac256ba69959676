# Water: the two commands a newcomer needs are `make demo` and `make test`.
# Each bootstraps a local virtual environment (.venv) on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint check bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed  ## install, then run the main example
	$(BIN)/python examples/quickstart.py

test: $(BIN)/.installed  ## install what the tests need, then run them
	$(BIN)/python -m pytest

lint: $(BIN)/.installed  ## ruff, mypy and the import-layer contract
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint test

bench: $(BIN)/.installed
	$(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
