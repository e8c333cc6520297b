# One entry point for every check: the same targets run locally and in CI (.ci/run calls `make test`).
SHELL := /bin/bash

# python3.12: the one on PATH if it really is 3.12, otherwise pyenv's copy, otherwise the system's.
PYTHON ?= $(shell for c in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	$$c -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo $$c; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: demo test lint docs format install install-dev bench experiments ui clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: python3.12 not found (tried PATH and ~/.pyenv/versions/3.12*); install Python 3.12 or run 'make PYTHON=/path/to/python3.12'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## demo: the main job on the built-in default (a simulated cohort)
demo: install
	$(BIN)/eih-ml demo --out demo_output

# axe-core for the browser tests' accessibility checks: a test-local copy from npm, never a CDN.
AXE := tests/serve/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/serve/axe/package.json tests/serve/axe/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: it installs axe-core for the browser tests (Debian: apt-get install -y npm)"; exit 2; }
	cd tests/serve/axe && npm ci --no-audit --no-fund --silent
	@touch $@

## test: lint, format check and the whole test suite
test: install-dev lint docs $(AXE)
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## docs: the documentation site with the API reference from the docstrings, warnings as errors
docs: install-dev
	$(BIN)/mkdocs build --strict --quiet

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install-dev
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) demo_output build .pytest_cache .ruff_cache .mypy_cache tests/serve/axe/node_modules

## ui: the MLflow UI on 127.0.0.1:5000 over the project's store (mlflow.db, mlartifacts/)
ui: install
	$(BIN)/eih-ml ui

## experiments: the research experiments; result tables are written into experiments/*/README.md
experiments: install
	$(BIN)/python experiments/run_experiments.py
