# Quick start: `make serve` runs the server, `make test` runs the tests.
# Both create .venv on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[serving,test]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/modelreg serve $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check modelreg tests bench
	$(BIN)/python -m pytest -q $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check modelreg tests bench
	$(BIN)/ruff format --check modelreg tests bench

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/registry.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
