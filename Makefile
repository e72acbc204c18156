# HISGuard — two commands do everything: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-sqlite test-postgres lint typecheck bench install migrate demo clean messages

$(BIN)/hisguard: requirements.txt requirements-dev.txt requirements-gsm.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	@if pkg-config --exists gammu 2>/dev/null; then $(BIN)/pip install --quiet -r requirements-gsm.txt; \
	  else echo "libgammu not found: the GSM-modem SMS channel stays off (apt-get install libgammu-dev)"; fi
	@touch $@

install: $(BIN)/hisguard

migrate: install
	$(BIN)/hisguard migrate --noinput

demo: migrate
	$(BIN)/hisguard demo --if-empty

## make run: set up everything and start web + worker + checker on http://$(HOST):$(PORT)
run: demo
	SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} $(BIN)/hisguard up --host $(HOST) --port $(PORT)

## make test: the whole suite on SQLite, then on PostgreSQL, browser tests included
test: install
	$(BIN)/ruff check hisguard tests bench
	$(BIN)/ruff format --check hisguard tests bench
	$(BIN)/mypy hisguard
	$(MAKE) test-sqlite
	$(MAKE) test-postgres

test-sqlite: install
	$(BIN)/pytest -q

test-postgres: install
	DATABASE_URL=$(PG_URL) $(BIN)/pytest -q

lint: install
	$(BIN)/ruff check hisguard tests bench && $(BIN)/ruff format --check hisguard tests bench

typecheck: install
	$(BIN)/mypy hisguard

bench: demo
	$(BIN)/python bench/report_storm.py

## make messages: collect new strings into the catalogs; then translate what it lists
messages: install
	scripts/messages.sh

clean:
	rm -rf $(VENV) var
