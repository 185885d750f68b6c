# Every target works on a fresh clone: the venv is created and the project installed on demand.
# `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run test lint bench migrate migration env-example clean

help: ## List the targets
	@echo "Targets (each creates .venv and installs what it needs on first use):"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sort | \
		awk -F':.*## ' '{ printf "  make %-12s %s\n", $$1, $$2 }'

$(VENV)/bin/python:
	@echo "==> Creating the virtual environment $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# What running needs: the project and its dependencies, not the test tools.
$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "==> Installing tradebot and what it needs to run into $(VENV) (the first time takes a few minutes)"
	$(BIN)/python -m pip install -e .
	touch $@

# Tests, linters and benchmarks: the project with the dev extras (pytest, ruff, import-linter...).
$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "==> Installing tradebot with its development tools (pytest, ruff, import-linter) into $(VENV)"
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP) ## Migrate the database and start the server on http://127.0.0.1:8080
	$(BIN)/tradebot migrate
	$(BIN)/tradebot serve

# Two test workers (pytest-xdist): the tests wait on subprocesses and sockets, so two fit 2 cores;
# TEST_WORKERS=0 runs them in this process (e.g. with -x or a debugger).
TEST_WORKERS ?= 2

# lint-imports checks the layer contract in pyproject.toml ([tool.importlinter]).
# The dashboard's browser test drives Debian's chromium: installed here when we may (root with
# apt-get), else that one test skips saying why (TRADEBOT_REQUIRE_BROWSER=1 makes it fail).
test: $(DEV_STAMP) ## Run the linters, the layer contract and the whole test suite
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		echo "==> Installing Debian's chromium for the dashboard's browser test" && \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
		echo "chromium missing: the dashboard's browser test will skip (apt-get install chromium)"
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(DEV_STAMP) ## Check style and formatting (ruff)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The webhook load part needs wrk (Debian package); installed here when we may, else skipped.
bench: $(DEV_STAMP) ## Run the benchmarks (docs/benchmarks.md)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || \
		echo "wrk missing: install it (apt-get install wrk) for the webhook load bench"
	$(BIN)/python -m bench
	$(BIN)/python -m bench.pg_webhooks

migrate: $(RUN_STAMP) ## Create or upgrade the database (TRADEBOT_DATABASE_URL)
	$(BIN)/tradebot migrate

# After changing db/models.py: make migration NAME=add_something (needs PostgreSQL on 127.0.0.1)
migration: $(DEV_STAMP) ## Generate migrations after changing db/models.py: make migration NAME=...
	$(BIN)/python scripts/make_migration.py $(NAME)

env-example: $(RUN_STAMP) ## Regenerate .env.example from the settings (bot/config.py)
	$(BIN)/python scripts/make_env_example.py

clean: ## Remove the virtual environment and test caches
	rm -rf $(VENV) .pytest_cache
