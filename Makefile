# The two commands of the README. Both create .venv on first use; `make train` installs the
# package alone, `make test` adds the test extras (pytest, PyTorch, onnx, a browser driver...).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: train test lint clean

$(BIN)/pip:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP) $(TEST_STAMP)

## train: set up, then train on the built-in default data (scikit-learn's digits)
train: $(STAMP)
	$(BIN)/twolayer train

## lint: set up, then check the code with ruff (the first half of `make test`)
lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks

## test: set up, then lint and run the test suite
test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs
