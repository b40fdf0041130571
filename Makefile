# Quickstart: `make run` serves the demo; `make test` runs every test. Both build .venv first.
# The first interpreter that really runs and is >= 3.11 (pyenv shims may exist without a runnable version).
PYTHON ?= $(shell for c in python3.13 python3.12 python3.11 python3; do \
	$$c -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && command -v $$c && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint schema bench bench-capture bench-subscriptions clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python >= 3.11 is required (none found on PATH)"; exit 1; }
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

bench-capture: $(STAMP)
	$(BIN)/python -m bench.capture_order --json bench/results/capture_order.json

bench-subscriptions: $(STAMP)
	$(BIN)/python -m bench.subscriptions

clean:
	rm -rf $(VENV) .oms .pytest_cache
