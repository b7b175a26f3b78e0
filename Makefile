# The README's commands. Each creates what it needs (virtual environment, packages) itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test demo serve bench lint typecheck clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

test: setup
	$(PY) -m pytest

demo: setup
	$(PY) -m devstack demo

serve: setup
	$(PY) -m devstack serve

# Not a test: measures the pipeline beside the alternatives and records docs/benchmarks.md.
ROWS ?= 1000000
bench: setup
	$(PY) -m devstack.bench --rows $(ROWS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache
