# Quickstart: `make run` serves the demo; `make test` runs every test. Both build .venv first.
PYTHON ?= $(shell command -v python3.12 || command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint schema bench bench-subscriptions clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,redis]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/oms serve --seed-if-empty

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

schema: $(STAMP)
	$(BIN)/python -m graphql_schema.export

bench: $(STAMP)
	$(BIN)/python -m bench.store_availability

bench-subscriptions: $(STAMP)
	$(BIN)/python -m bench.subscriptions

clean:
	rm -rf $(VENV) .oms .pytest_cache
