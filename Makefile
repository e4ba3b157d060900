# Everything a fresh machine needs is installed from here: `make test`, `make sandbox`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# PostgreSQL for the test suite; .ci/run sets it, and the suite fails (not skips) without it
# when POINTSMALL_REQUIRE_POSTGRES=1.
POINTSMALL_TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
export POINTSMALL_TEST_POSTGRES_URL

.PHONY: test lint typecheck pytest install browser sandbox run migrate check bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The browser test drives Debian's Chromium through ChromeDriver (root or sudo installs them).
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; }

test: lint typecheck pytest

# The whole mall on this machine, no token, no network: open the address it prints.
sandbox: $(STAMP)
	$(BIN)/pointsmall sandbox

# The bot against Telegram: set POINTSMALL_TELEGRAM_TOKEN (and POINTSMALL_CONFIG) first.
# `run` refuses a SQLite file that is not there (a typo must not start an empty mall); migrate
# creates or upgrades it first.
run: migrate
	$(BIN)/pointsmall run

lint: $(STAMP)
	$(BIN)/ruff check core bot tests bench
	$(BIN)/ruff format --check core bot tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy core bot

pytest: $(STAMP) browser
	$(BIN)/pytest

migrate: $(STAMP)
	$(BIN)/pointsmall migrate

check: migrate
	$(BIN)/pointsmall check

bench: $(STAMP)
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/mall.py
	$(BIN)/python bench/bot.py
	$(BIN)/python bench/burst.py
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/check.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
