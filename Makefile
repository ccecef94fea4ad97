# The two commands: `make run` starts the main job, `make test` runs the whole suite.
# Both set up what they need (venv, PyPI packages, Mosquitto) and are idempotent.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint venv system-deps clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "evenheat needs Python 3.11 or newer, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# Debian packages the tests use: Mosquitto (the broker every integration test talks to),
# PostgreSQL server binaries (storage tests start their own cluster) and shellcheck.
# Each is checked by a file it installs; apt-get runs only when something is missing.
DEB_CHECKS := mosquitto:/usr/sbin/mosquitto postgresql:/usr/lib/postgresql/*/bin/initdb \
              shellcheck:/usr/bin/shellcheck

system-deps:
	@missing=""; for pair in $(DEB_CHECKS); do \
		pkg=$${pair%%:*}; file=$${pair#*:}; \
		ls $$file >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		command -v apt-get >/dev/null 2>&1 || { echo "ERROR: missing Debian packages:$$missing (no apt-get here)" >&2; exit 1; }; \
		echo "installing Debian packages:$$missing"; \
		( apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null ) \
		|| { echo "ERROR: could not install$$missing with apt-get (are you root?)" >&2; exit 1; }; \
	fi

# Two workers (the machine's two cores); a test file stays on one worker, in order, with its
# module fixtures.
test: venv system-deps
	$(VENV)/bin/pytest -n 2 --dist loadfile

lint: venv
	$(VENV)/bin/ruff check .

run: venv system-deps
	$(VENV)/bin/evenheat run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info
