# Developer commands. `make run` runs the bridge locally; `make test` runs the whole suite.
# Both install what they need first (a fresh machine needs only Python 3.11, Node 20 and make).

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
INFRA_VENV := .venv-infra

.PHONY: help install run test lint lint-py lint-infra demo bench clean reset

help:
	@echo "make run    - Azurite, the Kaizala and Dataverse simulators and the local Functions host"
	@echo "              (state kept in .local/ across restarts)"
	@echo "make reset  - delete .local/ (Azurite data, simulator snapshots, secrets): start afresh"
	@echo "make test   - the whole test suite with branch coverage (starts and stops its own Azurite)"
	@echo "make lint   - ruff, mypy and the offline infra checks"
	@echo "make demo   - the whole loop end to end, with a report"
	@echo "make bench  - benchmarks into bench/results.json"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

local.settings.json:
	cp local.settings.example.json local.settings.json

# KAIZALA_TIME_SCALE shrinks the simulator's token lifetimes (525600: a 365-day refresh token
# lives one minute and rotates after 54 s).
KAIZALA_TIME_SCALE ?= 1

run: install local.settings.json
	$(PY) -m devtools.stack --settings local.settings.json --kaizala-time-scale $(KAIZALA_TIME_SCALE)

test: install $(INFRA_VENV)/.installed
	$(PY) -m pytest --cov --cov-report=term

lint-py: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

$(INFRA_VENV)/.installed: infra/requirements-lint.txt
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-lint.txt
	touch $@

lint-infra: $(INFRA_VENV)/.installed
	$(INFRA_VENV)/bin/python infra/validate.py

lint: lint-py lint-infra

demo: install
	$(PY) -m devtools.demo

bench: install
	$(PY) -m bench.run

# Everything `make run` keeps between runs; the next `make run` starts with a new tenant and
# must onboard again. Stop `make run` first (a running stack would write its state back).
reset:
	rm -rf .local

clean:
	rm -rf $(VENV) $(INFRA_VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .local
