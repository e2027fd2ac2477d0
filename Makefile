# Two commands do all the set-up on a fresh machine (only Python 3.11+ and make needed):
#   make demo   the golden path so far, on bundled real data, with the embedded stores
#   make test   lint, format check, type check and the whole test suite

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(abspath $(VENV))/bin
GP     := $(BIN)/goldenpath
DEMO   ?= build/demo
PYTEST_WORKERS ?= 2

.PHONY: demo test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	rm -rf $(DEMO)
	$(GP) init $(DEMO)/my-churn --example telco-churn
	cd $(DEMO)/my-churn && $(GP) validate
	cd $(DEMO)/my-churn && $(GP) train
	cd $(DEMO)/my-churn && $(GP) runs
	cd $(DEMO)/my-churn && $(GP) reproduce latest
	cd $(DEMO)/my-churn && $(GP) evaluate latest
	@echo "Demo project: $(DEMO)/my-churn (MLflow store in .goldenpath/mlflow.db)"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict src

test: lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/evaluation.py

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
