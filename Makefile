# The two commands a newcomer needs (see README.md):
#   make demo   set up, then open the dashboard notebook in JupyterLab, against the simulator
#   make test   set up, then run the whole test suite (what CI runs: .ci/run calls this)
# Python packages go into ./.venv and npm packages into ./node_modules; the browser tests use
# Debian's chromium, installed with apt-get when missing (needs root, as on CI).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BUNDLE := llmeter_widget/static/widget.js
PORT   ?= 8888

.PHONY: demo demo-terminal test bench setup clean metrics

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The dashboard's frontend bundle (git-ignored; `pip install .` also builds it).
$(BUNDLE): node_modules/.installed $(wildcard js/*.js js/*.json js/*.css js/*.mjs)
	npm run build

# Re-install when the package metadata changes. The bundle is built above, so pip's build hook
# (hatch-jupyter-builder, which `pip install .` from a wheel or sdist needs) is skipped here: in
# an editable install it would run `npm install` again, touch package-lock.json, and so make
# every later `make demo` reinstall node_modules and rebuild everything.
$(VENV)/.installed: pyproject.toml $(BUNDLE) | $(BIN)/python
	SKIP_JUPYTER_BUILDER=1 $(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

setup: $(VENV)/.installed /usr/bin/chromium

demo: $(VENV)/.installed
	$(BIN)/jupyter lab notebooks/quickstart.ipynb --port=$(PORT) --ServerApp.ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root)

# The same load on the simulator, as a live table in the terminal (no browser needed).
demo-terminal: $(VENV)/.installed
	$(BIN)/llmeter-widget demo --duration 10

test: setup
	$(BIN)/ruff check llmeter_widget tests bench conftest.py
	npm test
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/bench_snapshot.py
	$(BIN)/python bench/bench_throughput.py
	$(BIN)/python bench/bench_ttft_accuracy.py
	$(BIN)/python bench/bench_memory.py
	$(BIN)/python bench/bench_live_stats.py
	$(BIN)/python bench/bench_workers.py

# After a change to llmeter_widget/metrics.py: rewrite js/metrics.json and the user guide's table.
metrics: $(VENV)/.installed
	$(BIN)/python -c "from llmeter_widget.metrics import main; main()"

clean:
	rm -rf $(VENV) node_modules llmeter_widget/static build dist *.egg-info .pytest_cache runs
