# The two commands the README gives: `make demo` and `make test`. Both build .venv from scratch when needed.
# `make test-fast` is the edit loop: the tests not marked slow, on two processes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
# the demo needs zoo alone; the dev extras add the test tools and PyTorch, timm and transformers (about
# 8 GB, for the catalogue's parity tests)
RUN_STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $(RUN_STAMP)

install: $(STAMP)

demo: $(RUN_STAMP)
	$(VENV)/bin/zoo demo

test: lint
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" -n 2

# ruff (lint and format), and the layer map of docs/architecture.md ([tool.importlinter] in pyproject.toml)
lint: $(STAMP)
	$(VENV)/bin/ruff check zoo tests benchmarks scripts
	$(VENV)/bin/ruff format --check zoo tests benchmarks scripts
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
