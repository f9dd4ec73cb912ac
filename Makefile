# Quick start: `make demo`, `make test`. Both set up .venv from nothing but Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint fixtures docs bench fuzz clean

# The full set: the core, the tensorflow extra (Keras-backed steps) and the dev tools.
# tests/test_core_install.py builds .venv-core with the core alone (`pip install .`).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[tensorflow,dev]'
	touch $(STAMP)

demo: $(STAMP)
	@echo '$$ kerasfix diagnose fixtures/seed/lstm/model.keras fixtures/seed/lstm/x.npy'
	@$(BIN)/kerasfix diagnose fixtures/seed/lstm/model.keras fixtures/seed/lstm/x.npy

lint: $(STAMP)
	$(BIN)/ruff check kerasfix tests fixtures bench
	$(BIN)/ruff format --check kerasfix tests fixtures bench
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest

fixtures: $(STAMP)
	$(BIN)/python fixtures/make_fixtures.py

docs: $(STAMP)
	$(BIN)/python -m kerasfix.report.ruledocs docs/rules

# Each loader's fuzz target for FUZZ_SECONDS (not part of `make test`). atheris (coverage-guided)
# where its wheel installs, else the script falls back to hypothesis-driven mutation.
FUZZ_SECONDS ?= 30
fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet 'atheris>=2.3' || echo 'atheris did not install: fuzzing with hypothesis'
	$(BIN)/python tests/fuzz/fuzz_loaders.py --seconds $(FUZZ_SECONDS)

bench: $(STAMP)
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/values.py
	$(BIN)/python bench/cluster.py

clean:
	rm -rf $(VENV) .venv-core build *.egg-info
