# The two commands a newcomer needs (see README.md):
#   make demo   set up, then load-test the embedded simulated LLM server with a live table
#   make test   set up, then run the whole test suite (what CI runs)
# Everything is installed into ./.venv; nothing global is touched.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_ARGS ?= --duration 20

.PHONY: demo test bench setup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the package metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

setup: $(VENV)/.installed node_modules/.installed

demo: $(VENV)/.installed
	$(BIN)/llmeter-widget demo $(DEMO_ARGS)

test: setup
	npm test
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/bench_snapshot.py
	$(BIN)/python bench/bench_throughput.py
	$(BIN)/python bench/bench_ttft_accuracy.py
	$(BIN)/python bench/bench_memory.py

clean:
	rm -rf $(VENV) node_modules build dist *.egg-info .pytest_cache runs
