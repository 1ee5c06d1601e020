# featviz: `make demo` runs the whole DAG on generated data; `make test` runs the checks.
# Both set up .venv from pyproject.toml first (Python 3.11, nothing else to install).

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
CORES ?= 2
export PATH := $(BIN):$(PATH)

.PHONY: setup demo test lint docs paper-dry-run rulegraph html-report clean bench

# The demo's environment: featviz and its CPU backend, nothing more. Every job of the DAG
# starts a Python that imports Keras and TensorFlow (without the optional packages they
# would import too: src/featviz/lean_import.py).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable ".[tensorflow]"
	touch $@

# The checks' environment adds the test, lint, cluster and docs tools.
$(VENV)/.dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --editable ".[tensorflow,dev,slurm,docs]"
	touch $@

# System packages from Debian, where this runs as root with apt: $(1) is what they are for,
# $(2) the command that shows they are there, $(3) the packages. Elsewhere it says what is
# missing and goes on (the workflow and the tests say what they skip without them).
define apt_install
	@if command -v $(2) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing $(1): $(3)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(3) >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null 2>&1 && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(3) >/dev/null 2>&1; } || \
	  echo "$(1): $(3) could not be installed."; \
	else echo "$(1): $(3) missing, and not root with apt."; fi
	@touch $@
endef

# LaTeX for report/report.pdf (without it the workflow writes report.md and report.tex).
LATEX_PACKAGES := texlive-latex-base texlive-latex-recommended lmodern latexmk
$(VENV)/.latex: | $(VENV)/.installed
	$(call apt_install,LaTeX for the PDF report,latexmk,$(LATEX_PACKAGES))

# A headless browser for the atlas's browser test (without it that test is skipped).
$(VENV)/.browser: | $(VENV)/.installed
	$(call apt_install,Chromium for the atlas's browser test,chromium,chromium)

# SLURM and munge for the cluster test, which starts a one-node cluster with
# profiles/slurm/local-cluster.sh (skipped where it cannot, except in CI, where it fails).
$(VENV)/.slurm: | $(VENV)/.installed
	$(call apt_install,SLURM for the cluster test,slurmctld,slurm-wlm munge)

setup: $(VENV)/.installed $(VENV)/.latex

demo: setup
	snakemake --cores $(CORES) --configfile config/demo.yaml

# Two pytest workers: the tests that share a run (the tiny demo DAG, the determinism runs,
# the SLURM cluster) stay together on one worker while the other takes the rest.
test: setup $(VENV)/.dev $(VENV)/.browser $(VENV)/.slurm lint docs
	pytest -n 2 --dist loadgroup

# The manual as a site, in site/ (open site/index.html); --strict fails on a broken link
# or a docstring that does not render.
docs: setup $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet

lint: setup $(VENV)/.dev
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
	rm -rf results resources logs benchmarks/runs report/report.* report/provenance.json .snakemake site

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
	$(BENCH)/python -m benchmarks.conv_paths
	$(BENCH)/python benchmarks/readme_table.py
