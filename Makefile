# Every target works on a fresh clone: the venv is created and the project installed on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench migrate migration clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tradebot migrate
	$(BIN)/tradebot serve

# lint-imports checks the layer contract in pyproject.toml ([tool.importlinter]).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The webhook load part needs wrk (Debian package); installed here when we may, else skipped.
bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || \
		echo "wrk missing: install it (apt-get install wrk) for the webhook load bench"
	$(BIN)/python -m bench

migrate: $(STAMP)
	$(BIN)/tradebot migrate

# After changing db/models.py: make migration NAME=add_something (needs PostgreSQL on 127.0.0.1)
migration: $(STAMP)
	$(BIN)/python scripts/make_migration.py $(NAME)

clean:
	rm -rf $(VENV) .pytest_cache
