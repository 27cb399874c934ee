# Telemed: `make run` starts the platform with demo data, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
export TELEMED_DATA_DIR ?= ./var

.PHONY: run test venv system-deps run-deps services lint typecheck bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the platform and its tests use: Mosquitto (broker), Chromium (browser
# tests), coturn (TURN test), PostgreSQL and Redis when absent. Installed when run as root.
system-deps:
	@bash scripts/system-deps.sh test

run-deps:
	@bash scripts/system-deps.sh run

services: system-deps
	@bash scripts/services.sh

run: venv run-deps
	PY=$(PY) bash scripts/run.sh

test: venv services
	$(VENV)/bin/ruff check telemed devices tests bench
	$(VENV)/bin/mypy telemed devices
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check telemed devices tests bench

typecheck: venv
	$(VENV)/bin/mypy telemed devices

clean:
	rm -rf $(VENV) build *.egg-info
