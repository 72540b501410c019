# The whole set-up is two commands on a fresh clone: `make demo` and `make test`.
# Each creates .venv if missing, installs torch==2.13.0 (a CPU build) first, then the project.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS := 1
export RAY_AUTH_MODE := disabled
export RAY_TMPDIR := $(CURDIR)/.ray_tmp

.PHONY: install demo test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	mkdir -p $(RAY_TMPDIR)
	$(VENV)/bin/ethogram quickstart --out runs/quickstart

test: $(STAMP)
	mkdir -p $(RAY_TMPDIR)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) benchmarks/env_throughput.py

clean:
	rm -rf .ray_tmp runs/demo
