# Two commands a fresh machine needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PORT   ?= 8501
REPLICAS ?= 2
# loopback by default: every visitor of `make run` is its operator (memory panel). A public
# server sets ADDRESS=0.0.0.0 and OPTIONS_DASH_OPERATOR_TOKEN (see README.md).
ADDRESS ?= 127.0.0.1

.PHONY: run test test-fast bench record clean cluster

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime  ## check the settings, then start the app on http://localhost:$(PORT)
	$(PY) -m core.config
	$(VENV)/bin/streamlit run Home.py --server.port $(PORT) --server.address $(ADDRESS)

cluster: $(VENV)/.runtime  ## redis + $(REPLICAS) replicas + haproxy on http://localhost:$(PORT) (Ctrl-C stops all)
	$(PY) -m cluster.run --replicas $(REPLICAS) --port $(PORT)

test: $(VENV)/.dev  ## the whole suite: unit, page (AppTest) and browser (chromium) tests
	$(PY) -m pytest --cov=core --cov-report=term --cov-fail-under=90

test-fast: $(VENV)/.dev  ## everything but the browser tests
	$(PY) -m pytest -m "not browser"

bench: $(VENV)/.dev  ## quick run of every benchmark, then a summary table
	$(PY) -m bench.run_all --quick

record: $(VENV)/.runtime  ## record chains + key levels on the schedule (core/recorder.py)
	$(PY) -m core.recorder

clean:
	rm -rf $(VENV) .pytest_cache .coverage artifacts
