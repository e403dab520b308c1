# copmatch — `make run` serves the demo on http://127.0.0.1:8000, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed
PYTEST_WORKERS ?= 2

.PHONY: run test check format bench fuzz fuzz-ci clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Spectral (the NL GOV ADR linter) runs in the test suite; without npm that one test skips.
$(NODE_INSTALLED): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm not found: the ADR lint test will be skipped (CI runs it)"; \
	fi

run: $(INSTALLED)
	$(BIN)/copmatch migrate
	$(BIN)/copmatch load-municipalities
	$(BIN)/copmatch demo
	$(BIN)/copmatch serve

test: $(INSTALLED) $(NODE_INSTALLED)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --durations=10

# Schemathesis against the live API (scripts/fuzz.py): every check, stateful links, fixed seed.
fuzz: $(INSTALLED)
	$(BIN)/python scripts/fuzz.py --database sqlite
	$(BIN)/python scripts/fuzz.py --database postgresql

# CI runs the PostgreSQL half, the production database, to stay within its time limit.
fuzz-ci: $(INSTALLED)
	$(BIN)/python scripts/fuzz.py --database postgresql --max-examples 10

check: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The load test (scripts/loadtest.py) needs wrk (apt-get install wrk); PostgreSQL skips when unreachable.
bench: $(INSTALLED)
	$(BIN)/pytest -m benchmark -s -p no:randomly
	$(BIN)/python scripts/loadtest.py --database sqlite --database postgresql

clean:
	rm -rf $(VENV) node_modules var .pytest_cache .mypy_cache .ruff_cache
