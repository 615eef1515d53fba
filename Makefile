# Two commands set everything up: `make ingest` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: ingest test serve verify bench export clean-archive

$(VENV)/.installed: pyproject.toml .venv-mitm/.installed
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

# mitmproxy for browser capture's recording proxy, in a virtual environment of its own: it pins
# cryptography, h11, Brotli and ruamel.yaml below the versions the project needs (see capture/proxy.py)
.venv-mitm/.installed: pyproject.toml
	test -x .venv-mitm/bin/python || $(PYTHON) -m venv .venv-mitm
	.venv-mitm/bin/python -m pip install -q --upgrade pip
	.venv-mitm/bin/python -m pip install -q mitmproxy
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
