# thinkforge: `make demo` runs the whole asset graph on the bundled sample data; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export THINKFORGE_HOME ?= $(CURDIR)/.thinkforge
export DAGSTER_HOME ?= $(THINKFORGE_HOME)/dagster
UI_PORT ?= 3000

.PHONY: install demo test ui clean

install: $(STAMP)

# torch first and pinned (the CPU wheel); then the exact lock with --no-deps; then this project.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==26.3
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --no-deps -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@
	$(BIN)/dagster instance migrate >/dev/null

demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m jobs.demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(UI_PORT)

clean:
	rm -rf $(THINKFORGE_HOME)
