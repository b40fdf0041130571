# Quickstart: `make run` serves the demo; `make test` runs every test. Both build .venv first.
# The first interpreter that really runs and is >= 3.11 (pyenv shims may exist without a runnable version).
PYTHON ?= $(shell for c in python3.13 python3.12 python3.11 python3; do \
	$$c -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && command -v $$c && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The versions the tests passed with (pyproject.toml says what is allowed, constraints.txt what is
# tested): graphql_schema/execution.py subclasses Strawberry internals, so an upgrade must be tested
# before it is taken. `make lock` moves every pin to the newest allowed version; `make test-latest`
# runs the tests on the newest versions without touching the pins.
CONSTRAINTS := constraints.txt
# Test processes, each with its own mongod (tests/conftest.py). 2 cores: see README "Tests".
TEST_WORKERS ?= 3

.PHONY: run test test-latest lock install lint schema bench bench-record bench-capture bench-returns bench-cases bench-replenishment bench-subscriptions bench-failover bench-import bench-dashboard bench-webhooks screenshots clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python >= 3.11 is required (none found on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/pip install --quiet --constraint $(CONSTRAINTS) -e '.[dev,redis,otel]'
	touch $(STAMP)

# The dashboard's and GraphiQL's browser libraries, from npm as package-lock.json pins them (served
# from dashboard/node_modules; no build step). Without npm the API still runs and /dashboard says
# what to install.
DASHBOARD_STAMP := dashboard/node_modules/.installed

$(DASHBOARD_STAMP): dashboard/package-lock.json dashboard/package.json
	@if command -v npm >/dev/null 2>&1; then \
		cd dashboard && npm ci --no-audit --no-fund && touch node_modules/.installed; \
	else \
		echo "*** npm not found: skipping the dashboard's libraries. The API works; install Node.js >= 18 (with npm) and run 'make install' for /dashboard and an offline GraphiQL. ***"; \
	fi

install: $(STAMP) $(DASHBOARD_STAMP)

run: install
	$(BIN)/oms serve --seed-if-empty

test: install
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

# The newest versions pyproject.toml allows, in a venv of their own; the pins stay as they are.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/pip install --quiet --upgrade -e '.[dev,redis,otel]'
	.venv-latest/bin/pip freeze --exclude-editable | grep -v '^oms' | diff $(CONSTRAINTS) - || true
	.venv-latest/bin/lint-imports
	.venv-latest/bin/python -m pytest -n $(TEST_WORKERS)

# Pin the newest allowed versions; then `make test`, and commit constraints.txt if it passes.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/pip install --quiet -e '.[dev,redis,otel]'
	{ echo "# Tested versions; made by \`make lock\` (see Makefile). Edit pyproject.toml, not this."; \
	  .venv-lock/bin/pip freeze --exclude-editable | grep -v '^oms'; } > $(CONSTRAINTS)
	rm -rf .venv-lock

schema: $(STAMP)
	$(BIN)/python -m graphql_schema.export

# The whole set in short runs (< 10 min): one table, bench/out/bench.md (untracked), each figure
# beside its raw baseline from the same run, the ratio, the target and met / not met (bench/suite.py).
bench: $(STAMP)
	$(BIN)/python -m bench.suite

# The same, also written to bench/results/bench.md: the recorded table the README points to.
# A bench's own long-run figures are recorded with its `--record` flag (bench/results/NAME.json).
bench-record: $(STAMP)
	$(BIN)/python -m bench.suite --record

# Long runs, one bench each; their results go to bench/out/ (untracked).
bench-capture: $(STAMP)
	$(BIN)/python -m bench.capture_order --json bench/out/capture_order.json

bench-returns: $(STAMP)
	$(BIN)/python -m bench.returns --json bench/out/returns.json

bench-cases: $(STAMP)
	$(BIN)/python -m bench.cases --json bench/out/cases.json

bench-replenishment: $(STAMP)
	$(BIN)/python -m bench.replenishment --json bench/out/replenishment.json

bench-subscriptions: $(STAMP)
	$(BIN)/python -m bench.subscriptions

bench-failover: $(STAMP)
	mkdir -p bench/out && $(BIN)/python -m bench.relay_failover | tee bench/out/relay_failover.json

# 200 events/s at the dashboard in Chromium: render lag and JS heap over time (--minutes, default 10).
bench-dashboard: install
	$(BIN)/python -m bench.dashboard_page --json bench/out/dashboard_page.json

# docs/img/dashboard.png and docs/img/order-detail.png, from the demo data, by the browser tests.
screenshots: install
	OMS_SCREENSHOTS=1 $(BIN)/python -m pytest -p no:xdist -q tests/test_dashboard_page.py -k screenshots

bench-webhooks: $(STAMP)
	$(BIN)/python -m bench.webhooks --json bench/out/webhooks.json

bench-import: $(STAMP)
	$(BIN)/python -m bench.import_stock --rows 100000
	$(BIN)/python -m bench.import_stock --rows 1000000

clean:
	rm -rf $(VENV) .venv-latest .venv-lock .oms .pytest_cache dashboard/node_modules

# Several machines rehearsed on one (docs/SCALING.md): a 3-member replica set, valkey, 2 servers, a
# flash sale and 1,000 subscribers across both, the primary stepped down mid-run (~5 min).
.PHONY: bench-scaling
bench-scaling: $(STAMP)
	$(BIN)/python -m bench.scaling_rehearsal --step-down
