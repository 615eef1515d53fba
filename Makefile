# Two commands set everything up: `make ingest` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: ingest test serve verify bench export clean-archive

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	touch $@

ingest: $(VENV)/.installed
	$(PY) -m ingest run

verify: $(VENV)/.installed
	$(PY) -m ingest verify

serve: $(VENV)/.installed
	$(PY) -m ingest serve

test: $(VENV)/.installed-test
	$(PY) -m pytest -q

bench: $(VENV)/.installed-test
	$(PY) -m ingest.bench
