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
	$(VENV)/bin/ethogram demo --out runs/demo
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

# The quick benchmarks (minutes each on 2 cores), JSON into benchmarks/results/. The long ones run by hand:
# benchmarks/train_learning.py (about 12 minutes), benchmarks/mohba_validation.py (about 6 minutes) and
# benchmarks/coordination_results.py RUN_DIR (after `ethogram experiment experiments/cooking_coordination.yaml`) and
# benchmarks/cleanup_results.py RUN_DIR (after `ethogram experiment experiments/cleanup_social.yaml`, about 80 minutes).
BENCHMARKS := env_throughput scripted_cooking cleanup_dilemma dataset_io train_throughput mohba_throughput

bench: $(STAMP)
	mkdir -p benchmarks/results
	for b in $(BENCHMARKS); do echo "== $$b"; $(PY) benchmarks/$$b.py > benchmarks/results/$$b.json || exit 1; done
	echo "== train_throughput --env cleanup"; $(PY) benchmarks/train_throughput.py --env cleanup > benchmarks/results/train_throughput_cleanup.json

clean:
	rm -rf .ray_tmp runs/demo runs/quickstart
