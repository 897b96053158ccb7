# Two commands on a fresh machine (Python 3.11, no torch):
#   make demo   -> sets up .venv and runs the end-to-end demo
#   make test   -> sets up .venv and runs the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU wheel of torch; an unpinned torch pulls several GB of CUDA packages.
TORCH ?= torch==2.13.0

.PHONY: setup demo test lint bench clean

$(BIN)/dso: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev,ray,trellis]"
	touch $(BIN)/dso

setup: $(BIN)/dso

demo: setup
	$(BIN)/dso demo --out demo_out

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo_out
