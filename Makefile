# Two commands do all set-up: `make demo` runs the pipeline end to end, `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.finrnn/dagster_home

.PHONY: demo test test-all ui validate lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP) ## create the venv, run the whole pipeline on the bundled sample, print a summary
	$(BIN)/finrnn-demo

test: $(STAMP) ## the default test run (CI runs exactly this)
	$(BIN)/pytest -m "not slow"

test-all: $(STAMP) ## every test, the slow ones included
	$(BIN)/pytest

ui: $(STAMP) ## the Dagster UI (webserver + daemon) on http://127.0.0.1:3000
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

validate: $(STAMP)
	$(BIN)/dagster definitions validate -m finrnn_pipeline.definitions

lint: $(STAMP)
	$(BIN)/ruff check finrnn_core finrnn_pipeline tests

clean:
	rm -rf $(VENV) finrnn_data .finrnn
