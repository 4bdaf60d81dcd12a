# hmbatch: every target installs what it needs into .venv, from nothing but Python 3.11 and make.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCALE ?= medium
DEMO_DATA ?= demo-data
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export HMBATCH_WORKSPACE ?= hmbatch-work

.PHONY: install demo test test-slow fuzz bench bench-worlds bench-cycle clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hmbatch synth $(DEMO_DATA) --scale small --seed 0
	$(VENV)/bin/hmbatch run $(DEMO_DATA) --out $(HMBATCH_WORKSPACE)/submissions/demo.csv
	$(VENV)/bin/hmbatch evaluate --submission $(HMBATCH_WORKSPACE)/submissions/demo.csv --truth $(DEMO_DATA)/heldout_transactions.csv
	@echo "demo done: the submission is $(HMBATCH_WORKSPACE)/submissions/demo.csv"

test: $(STAMP)
	$(PY) tests/shards.py -q -m "not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

fuzz: $(STAMP)
	HMBATCH_FUZZ_EXAMPLES=500 $(PY) -m pytest -q tests/test_fuzz.py

# both kinds of world: today's (taste follows categories) and hidden collections at 3 strengths
bench: $(STAMP)
	$(PY) benchmarks/run.py --scale $(SCALE)
	$(PY) benchmarks/worlds.py --scale $(SCALE)
	$(PY) benchmarks/cycle.py --scale $(SCALE) --collections 0
	$(PY) benchmarks/cycle.py --scale $(SCALE) --collections 1

bench-worlds: $(STAMP)
	$(PY) benchmarks/worlds.py --scale $(SCALE)

# the weekly cycle, warm against cold, on both kinds of world
bench-cycle: $(STAMP)
	$(PY) benchmarks/cycle.py --scale $(SCALE) --collections 0
	$(PY) benchmarks/cycle.py --scale $(SCALE) --collections 1

clean:
	rm -rf $(VENV) $(HMBATCH_WORKSPACE) $(DEMO_DATA) bench-work
