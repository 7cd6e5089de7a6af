# The two commands a newcomer needs: `make run` and `make test`.
# Everything is installed inside the project folder (.tools/ for uv, .venv/ for the app).

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell command -v $(PYTHON))

.PHONY: setup run test lint typecheck passes pytest pytest-pg e2e browser fuzz bench clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

# Front-end packages from npm (pinned by package-lock.json; no install scripts run), then the
# allow-listed files copied and the GOV.UK + MOJ Frontend Sass compiled into webui/static/vendor/.
node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

webui/static/vendor/.vendored: node_modules/.installed webui/vendor.py | $(VENV)/.synced
	$(BIN)/python -m webui.vendor
	touch $@

setup: $(VENV)/.synced webui/static/vendor/.vendored

## Start the app on the embedded SQLite database with the demo data (reuses what exists).
## A demo deployment unless RISKFLOW_DEMO says otherwise (it keeps its own secret key in instance/).
## The first run builds the demo area; DEMO_CASES=300 builds a smaller one faster.
run: export RISKFLOW_DEMO ?= true
run: setup
	$(BIN)/riskflow db upgrade
	$(BIN)/riskflow deploy processes
	@if [ "$$RISKFLOW_DEMO" = "true" ]; then $(BIN)/riskflow demo load $(if $(DEMO_CASES),--cases $(DEMO_CASES)); fi
	$(BIN)/riskflow serve

## Lint, type-check and run the whole suite on SQLite and, when RISKFLOW_TEST_DATABASE_URL is set,
## on PostgreSQL: the two passes run side by side (one core each), the PostgreSQL pass's output shown
## after the SQLite pass's. The browser tests (tests/e2e) run in the SQLite pass only: every other
## test runs in both (see docs/testing.md). Each pass ends with its ten slowest tests.
## `make pytest` and `make pytest-pg` run one pass each.
test: setup lint typecheck passes

PYTEST_TIMES := --durations=10

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

typecheck: setup
	$(BIN)/mypy

pytest: setup browser
	$(BIN)/pytest $(PYTEST_TIMES)

PG_PASS = RISKFLOW_TEST_BACKEND=postgresql HYPOTHESIS_STORAGE_DIRECTORY=.hypothesis/postgresql \
	$(BIN)/pytest -m 'not e2e' $(PYTEST_TIMES)

pytest-pg: setup
	@if [ -n "$$RISKFLOW_TEST_DATABASE_URL" ]; then \
		echo "== the suite on $$RISKFLOW_TEST_DATABASE_URL, less the browser tests (run on SQLite)"; \
		$(PG_PASS); \
	else \
		echo "== RISKFLOW_TEST_DATABASE_URL is not set: PostgreSQL run skipped"; \
	fi

# Both passes at once. The PostgreSQL pass writes to a log that is printed when both have ended;
# the target fails when either pass failed, and stopping it stops both.
passes: setup browser
	@if [ -z "$$RISKFLOW_TEST_DATABASE_URL" ]; then \
		echo "== RISKFLOW_TEST_DATABASE_URL is not set: PostgreSQL run skipped"; \
		exec $(BIN)/pytest $(PYTEST_TIMES); \
	fi; \
	log=$$(mktemp); \
	$(PG_PASS) > "$$log" 2>&1 & pg=$$!; \
	trap 'kill $$pg 2>/dev/null; rm -f "$$log"' EXIT; \
	echo "== the SQLite pass (the PostgreSQL pass runs alongside; its output follows)"; \
	$(BIN)/pytest $(PYTEST_TIMES); sqlite_status=$$?; \
	wait $$pg; pg_status=$$?; \
	echo "== the suite on $$RISKFLOW_TEST_DATABASE_URL, less the browser tests (run on SQLite)"; \
	cat "$$log"; \
	echo "== SQLite pass exited $$sqlite_status, PostgreSQL pass exited $$pg_status"; \
	[ $$sqlite_status -eq 0 ] && [ $$pg_status -eq 0 ]

## Only the browser tests (tests/e2e): Playwright driving the system's Chromium, with axe-core.
e2e: setup browser
	$(BIN)/pytest tests/e2e

# The browser tests are part of the suite: without Chromium, stop here and say so rather than skip them.
CHROMIUM ?= $(or $(RISKFLOW_CHROMIUM),$(shell command -v chromium),/usr/bin/chromium)
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "Chromium is missing ($(CHROMIUM)): the browser tests in tests/e2e need it." >&2; \
		echo "Install it with \`apt-get install -y chromium\` (.ci/run does), or set RISKFLOW_CHROMIUM." >&2; \
		exit 1; \
	fi

## The generated API tests with fresh random cases instead of the suite's fixed ones, and many more of
## them (RISKFLOW_API_EXAMPLES per operation and kind); prints its seed and how many requests it sent.
## FUZZ_SEED=N draws the cases of an earlier run again.
fuzz: export RISKFLOW_HYPOTHESIS_PROFILE := fuzz
fuzz: export RISKFLOW_API_EXAMPLES ?= 100
fuzz: setup
	@seed=$${FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	echo "== fuzzing the API with $$RISKFLOW_API_EXAMPLES cases per operation and kind, seed $$seed"; \
	echo "   (make fuzz FUZZ_SEED=$$seed RISKFLOW_API_EXAMPLES=$$RISKFLOW_API_EXAMPLES draws the same cases again)"; \
	$(BIN)/pytest tests/test_api_schema.py -rP --show-capture=stdout --hypothesis-seed=$$seed

bench: setup
	$(BIN)/python -m bench.long_case

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache node_modules webui/static/vendor
