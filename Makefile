# The two commands: `make run` starts the main job, `make test` runs the whole suite.
# Both set up what they need (venv, PyPI packages, Mosquitto) and are idempotent.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint venv mosquitto postgres clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "evenheat needs Python 3.11 or newer, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# Mosquitto is the broker every integration test talks to; installed from Debian packages.
mosquitto:
	@if command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "installing mosquitto from Debian packages"; \
		( apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null ) \
		|| { echo "ERROR: could not install mosquitto with apt-get (are you root?)." >&2; exit 1; }; \
	else echo "ERROR: mosquitto is missing and apt-get is not available; install Mosquitto." >&2; exit 1; fi

# PostgreSQL server binaries for the storage tests (each test run starts its own cluster).
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "installing postgresql from Debian packages"; \
		( apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null ) \
		|| { echo "ERROR: could not install postgresql with apt-get (are you root?)." >&2; exit 1; }; \
	else echo "ERROR: PostgreSQL server binaries are missing and apt-get is not available." >&2; exit 1; fi

test: venv mosquitto postgres
	$(VENV)/bin/pytest

lint: venv
	$(VENV)/bin/ruff check .

run: venv
	$(VENV)/bin/evenheat run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info
