# featviz: `make demo` runs the whole DAG on generated data; `make test` runs the checks.
# Both set up .venv from pyproject.toml first (Python 3.11, nothing else to install).

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
CORES ?= 2
export PATH := $(BIN):$(PATH)

.PHONY: setup demo test lint paper-dry-run rulegraph html-report clean bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable ".[tensorflow,dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	snakemake --cores $(CORES) --configfile config/demo.yaml

test: setup lint
	pytest

lint: setup
	ruff check .
	ruff format --check .
	snakefmt --check .
	snakemake --lint --configfile config/demo.yaml

paper-dry-run: setup
	snakemake -n --configfile config/paper.yaml

html-report: setup
	snakemake --cores $(CORES) --configfile config/demo.yaml --report report/report.html

# Needs Graphviz (apt-get install graphviz); the picture is checked in as docs/rulegraph.svg.
rulegraph: setup
	snakemake --configfile config/paper.yaml --rulegraph | dot -Tsvg > docs/rulegraph.svg

clean:
	rm -rf results resources logs benchmarks/runs report/report.md report/report.html .snakemake

# Benchmarks run in their own environment: tf-keras-vis needs tf_keras, which is not a
# dependency of featviz. tf_keras is installed without its dependencies so that it uses
# the tensorflow-cpu build featviz already has.
BENCH := $(abspath benchmarks/.venv)/bin
benchmarks/.venv/.installed: pyproject.toml
	$(PYTHON) -m venv benchmarks/.venv
	$(BENCH)/python -m pip install --quiet --upgrade pip
	$(BENCH)/python -m pip install --quiet --editable ".[tensorflow]"
	$(BENCH)/python -m pip install --quiet --no-deps tf-keras==2.21.0 tf-keras-vis==0.8.7
	$(BENCH)/python -m pip install --quiet deprecated imageio
	touch $@

bench: benchmarks/.venv/.installed
	$(BENCH)/python -m benchmarks.engine_speed
	$(BENCH)/python benchmarks/readme_table.py
