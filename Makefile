# talentflow: two entry points, the same ones the README and CI use.
# `make run` sets up .venv and runs the pipeline; `make test` sets it up and runs the checks.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test test-fast bench clean

setup: $(VENV)/.installed

# uv (from PyPI) installs the same pinned ranges as pip, about ten times faster.
# --compile-bytecode writes every library's .pyc once, at install: where Python may not
# write them itself (PYTHONDONTWRITEBYTECODE, a read-only venv) each command, Prefect
# server and worker process would otherwise compile Prefect, GX, pandas… from source
# again (bench/README.md: 4.2 s → 1.7 s to import the pipeline, a rerun 43 s → 34 s).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "uv>=0.4"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e ".[test]"
	touch $@

run: setup
	$(BIN)/talentflow run

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest -n auto --dist loadfile

# The same checks without the slow tests (whole pipeline runs, Prefect servers of their
# own): for a quick loop while editing. CI always runs `make test`, which skips nothing.
test-fast: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest -n auto --dist loadfile -m "not slow"

clean:
	rm -rf $(VENV) data
