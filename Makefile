# Two commands on a fresh machine with only Python: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ./var
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test test-fast lint lint-imports typecheck i18n bench demo clean help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Compiled catalogues: made by the build from the .po files, never edited or committed.
MO := $(patsubst %.po,%.mo,$(wildcard locales/*/LC_MESSAGES/liaison.po))

locales/%/LC_MESSAGES/liaison.mo: locales/%/LC_MESSAGES/liaison.po | $(STAMP)
	$(BIN)/pybabel compile --domain liaison -i $< -o $@ -l $*

run: $(STAMP) $(MO) ## Start the relay server on SQLite with its data in ./var
	$(BIN)/liaison serve --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

test: $(STAMP) $(MO) ## Run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) $(MO) ## Run the suite without the slow end-to-end tests
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) lint-imports ## ruff lint and format check, and the import contracts
	$(BIN)/ruff check liaison crypto tests bench
	$(BIN)/ruff format --check liaison crypto tests bench

lint-imports: $(STAMP) ## Import contracts (pyproject.toml) and no import cycle in any package
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_import_graph.py

typecheck: $(STAMP) ## mypy --strict on crypto/
	$(BIN)/mypy

i18n: $(STAMP) ## Extract, update and compile the gettext catalogues with Babel
	$(BIN)/pybabel extract -F locales/babel.cfg -k _ -k N_ -k ngettext:1,2 -o locales/liaison.pot --project=liaison --version=0.1.0 --no-location --sort-output liaison
	for lang in vi zh_Hans_CN en; do \
	  test -f locales/$$lang/LC_MESSAGES/liaison.po || \
	    $(BIN)/pybabel init -i locales/liaison.pot -d locales -D liaison -l $$lang || exit 1; \
	done
	$(BIN)/pybabel update -i locales/liaison.pot -d locales -D liaison --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d locales -D liaison --statistics

bench: $(STAMP) ## Run the benchmarks under bench/
	$(BIN)/python -m bench.crypto
	$(BIN)/python bench/relay.py

demo: $(STAMP) ## Run the guided demonstration in a temporary folder
	$(BIN)/liaison demo

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
