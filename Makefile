# Quickstart: `make run` serves the demo; `make test` runs every test. Both build .venv first.
# The first interpreter that actually runs and is >= 3.11 (a pyenv shim can exist without its version).
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do $$p -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint schema bench clean

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

clean:
	rm -rf $(VENV) .oms .pytest_cache
