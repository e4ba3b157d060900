# Everything a fresh machine needs is installed from here: `make test`, `make sandbox`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# PostgreSQL for the test suite; .ci/run sets it, and the suite fails (not skips) without it
# when POINTSMALL_REQUIRE_POSTGRES=1.
POINTSMALL_TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
export POINTSMALL_TEST_POSTGRES_URL

.PHONY: test lint typecheck pytest install migrate check bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check core bot tests bench
	$(BIN)/ruff format --check core bot tests bench

typecheck: $(STAMP)
	$(BIN)/mypy core bot

pytest: $(STAMP)
	$(BIN)/pytest

migrate: $(STAMP)
	$(BIN)/pointsmall migrate

check: migrate
	$(BIN)/pointsmall check

bench: $(STAMP)
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/mall.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
