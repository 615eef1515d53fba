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

$(VENV)/.installed-test: $(VENV)/.installed .venv-pywb/.installed
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# pywb for the replay tests, in a virtual environment of its own (see the replay extra in pyproject.toml)
.venv-pywb/.installed: pyproject.toml
	test -x .venv-pywb/bin/python || $(PYTHON) -m venv .venv-pywb
	.venv-pywb/bin/python -m pip install -q --upgrade pip
	.venv-pywb/bin/python -m pip install -q pywb
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
