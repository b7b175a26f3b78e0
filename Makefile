# The README's commands. Each creates what it needs (virtual environment, packages) itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup postgres browser emulator test check demo serve bench lint typecheck package screenshots clean

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

# The AWS emulator: the local stack's S3, SQS and event sources (make serve, make demo, the test
# stacks) and what the packaged stack is deployed into (tests/deploy/, STACK=deployed make serve),
# in a virtual environment of its own: it pins an older botocore than requirements-dev.txt.
EMULATOR_VENV ?= .venv-ministack
EMULATOR_STAMP := $(EMULATOR_VENV)/.installed
emulator: $(EMULATOR_STAMP)

$(EMULATOR_STAMP): requirements-emulator.txt
	test -x $(EMULATOR_VENV)/bin/python || $(PYTHON) -m venv $(EMULATOR_VENV)
	$(EMULATOR_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-emulator.txt
	touch $(EMULATOR_STAMP)

# The unit tests on every core (they share nothing), then the suites that run stacks, engines, the
# emulator and a browser, one at a time.
test: setup postgres browser emulator
	$(PY) -m pytest tests/unit -n auto
	$(PY) -m pytest --ignore=tests/unit

# The edit-test loop: lint, types and the unit tests (no stack, no engine, no browser), the unit
# tests spread over the machine's cores, each property test with a fifth of its examples and the
# few tests marked slow left to make test. Under 90 seconds here.
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	TEST_EXAMPLES_SCALE=0.2 $(PY) -m pytest tests/unit -q -n auto -m "not slow"

demo: setup emulator $(ENGINE)
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
screenshots: setup emulator browser
	$(PY) -m devstack.screenshots


# STACK=deployed: the packaged template of STAGE deployed into the AWS emulator (its warehouse is
# always the local Redshift engine, behind the Data API stand-in).
STACK ?= local
serve: setup emulator
ifeq ($(STACK),deployed)
serve: postgres package
	WAREHOUSE=$(WAREHOUSE) $(PY) -m devstack serve --deployed $(BUILD)/$(STAGE) --stage $(STAGE)
else
serve: $(ENGINE)
	WAREHOUSE=$(WAREHOUSE) $(PY) -m devstack serve
endif

# Not a test: measures the pipeline beside the alternatives and records docs/benchmarks.md.
ROWS ?= 1000000
bench: setup emulator
	$(PY) -m devstack.bench --rows $(ROWS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

# The CloudFormation (SAM) template of one stage into build/<stage>/ (docs/deploy.md):
# chalice package writes sam.json and deployment.zip, deploy/template.py the template.json to
# deploy. Offline apart from pip fetching requirements.txt for the Lambda zip; needs no AWS
# credentials and deploys nothing. Chalice refuses to start without a region, but what it writes
# does not depend on it (the template takes the region from the stack), so any region will do.
STAGE ?= dev
BUILD ?= build
package: setup
	rm -rf $(BUILD)/$(STAGE)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} \
		$(VENV)/bin/chalice package --stage $(STAGE) $(BUILD)/$(STAGE)
	$(PY) -m deploy.template --stage $(STAGE) --out $(BUILD)/$(STAGE)
	$(VENV)/bin/cfn-lint $(BUILD)/$(STAGE)/template.json

clean:
	rm -rf $(VENV) $(EMULATOR_VENV) .local .pytest_cache .mypy_cache .ruff_cache *.egg-info
