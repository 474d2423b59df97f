# `make train` and `make test` work on a fresh clone: each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install train test test-fast predict bench bench-quick lint format mlflow-ui clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## create .venv and install the package with dev and bench extras

train: $(STAMP)  ## ingest → features → train → evaluate → MLflow on params.yaml
	$(BIN)/pipeline run

test: $(STAMP)  ## the whole test suite (slow tests included), as CI runs it
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## skip tests marked slow
	$(BIN)/python -m pytest -q -m "not slow"

predict: $(STAMP)  ## predict the sample dumps in data/raw/dumps/ with the saved models
	$(BIN)/pipeline predict data/raw/dumps -o reports/predictions.jsonl --force

bench: $(STAMP)  ## project vs scikit-learn and fastText peers on ../shared/datasets
	$(BIN)/pipeline bench

bench-quick: $(STAMP)
	$(BIN)/pipeline bench --quick

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests
	$(BIN)/ruff format --check pipeline tests

format: $(STAMP)
	$(BIN)/ruff check --fix pipeline tests
	$(BIN)/ruff format pipeline tests

mlflow-ui: $(STAMP)  ## browse runs and registered models at http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

clean:
	rm -rf data/processed/* models/* reports/* mlruns mlflow.db
	touch data/processed/.gitkeep models/.gitkeep reports/.gitkeep
