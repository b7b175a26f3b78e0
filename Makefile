# The README's commands. Each creates what it needs (virtual environment, packages) itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup postgres browser test check demo serve bench lint typecheck package checkov screenshots clean

setup: $(STAMP)

# Re-run when any requirements file or the client's packaging (pyproject.toml) changes.
$(STAMP): requirements.txt requirements-dev.txt requirements-cli.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# PostgreSQL 15 for the local Redshift engine (devstack/redshift_local): installed with apt-get
# when missing and we are root, otherwise a note says what to install (never fails the make).
postgres: setup
	$(PY) -m devstack.redshift_local.install

# WAREHOUSE=redshift runs the stack on the local Redshift engine instead of DuckDB (and only
# then needs PostgreSQL).
WAREHOUSE ?= duckdb
ENGINE := $(if $(filter redshift,$(WAREHOUSE)),postgres)

test: setup postgres browser
	$(PY) -m pytest

# The edit-test loop: lint, types and the unit tests (no stack, no engine, no browser), the unit
# tests spread over the machine's cores. Under 90 seconds here.
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest tests/unit -q -n auto

demo: setup $(ENGINE)
	WAREHOUSE=$(WAREHOUSE) $(PY) -m devstack demo

# Headless Chromium for the console's browser tests: Debian's package, installed when missing and
# apt-get can be used (as root); otherwise those tests are skipped and say why.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" -eq 0 ]; then \
		echo "installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
			|| echo "chromium could not be installed: the browser tests will be skipped"; \
	else echo "no $(CHROMIUM) and no apt-get as root: the browser tests will be skipped"; fi

# The console's screenshots in docs/img/console-*.png, taken in headless Chromium.
screenshots: setup browser
	$(PY) -m devstack.screenshots


serve: setup $(ENGINE)
	WAREHOUSE=$(WAREHOUSE) $(PY) -m devstack serve

# Not a test: measures the pipeline beside the alternatives and records docs/benchmarks.md.
ROWS ?= 1000000
bench: setup
	$(PY) -m devstack.bench --rows $(ROWS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

# Terraform for one stage into build/<stage>/ (docs/deploy.md). Offline apart from pip fetching
# requirements.txt for the Lambda zip; needs no AWS credentials and deploys nothing. Chalice
# refuses to start without a region, but the Terraform it writes does not depend on it (the
# region comes from the provider at apply time), so any region will do here. Only generated
# files are replaced: Terraform state or a backend file kept in build/<stage>/ survives.
STAGE ?= dev
BUILD ?= build
package: setup
	rm -f $(BUILD)/$(STAGE)/chalice.tf.json $(BUILD)/$(STAGE)/ingest.tf.json \
		$(BUILD)/$(STAGE)/versions.tf $(BUILD)/$(STAGE)/deployment.zip
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} \
		$(VENV)/bin/chalice package --pkg-format terraform --stage $(STAGE) $(BUILD)/$(STAGE)
	$(PY) -m deploy.terraform --stage $(STAGE) --out $(BUILD)/$(STAGE)

# checkov over the package (docs/deploy.md, Accepted checkov findings). Not part of make test:
# checkov pins an older boto3 than requirements-dev.txt, so it gets a virtual environment of its
# own. Reports the accepted findings without failing; tests/unit/test_deploy_checks.py fails on
# any other.
CHECKOV_VENV ?= .venv-checkov
checkov: package
	test -x $(CHECKOV_VENV)/bin/checkov || ($(PYTHON) -m venv $(CHECKOV_VENV) && \
		$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30)
	$(CHECKOV_VENV)/bin/checkov -d $(BUILD)/$(STAGE) --framework terraform_json terraform \
		--skip-download --compact --soft-fail

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .local .pytest_cache .mypy_cache .ruff_cache *.egg-info
