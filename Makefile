# make demo | make test | make bench — each creates ./.venv when missing and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.benchbench-installed
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
# Every install of the repo pins every distribution from one lock (make lock writes it), so a fresh
# clone gets exactly what CI tested; pyproject.toml keeps ranges for users who install elsewhere.
LOCK   := requirements.lock
PIP    := $(BIN)/python -m pip install -q -c $(LOCK)
# detectron2 has no index distribution: the wheel built for this environment, where the checkout has it
D2_WHEEL := $(lastword $(sort $(wildcard ../shared/wheels/detectron2-*.whl)))
EDITABLES = -e '.[dev,ray,slurm]' $(foreach p,$(PLUGINS),-e $(p)) $(D2_WHEEL)
export YOLO_OFFLINE := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg
# every plugin in plugins/ is installed here, the MLflow observer too: its logging is opt-in in this
# repo (BENCHBENCH_MLFLOW=on make demo) so that the demo and the tests do not each fill an MLflow store
export BENCHBENCH_MLFLOW ?= off

.PHONY: install lock test test-fast demo bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK) $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) pip setuptools
	$(PIP) torch torchvision
	$(PIP) $(EDITABLES)
	$(BIN)/python tools/check_lock.py $(LOCK)
	touch $@

# Re-resolve pyproject.toml's ranges (and constraints.txt's pins) in a scratch venv and pin everything it
# installed. Run after changing a dependency; commit requirements.lock with the change.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q -c constraints.txt --upgrade pip setuptools
	.lock-venv/bin/python -m pip install -q -c constraints.txt torch torchvision
	.lock-venv/bin/python -m pip install -q -c constraints.txt $(EDITABLES)
	.lock-venv/bin/python tools/check_lock.py --write $(LOCK)
	rm -rf .lock-venv

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

demo: $(STAMP)
	$(BIN)/python examples/prepare_demo.py
	$(BIN)/bench run examples/quickstart.yaml

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check benchbench tests plugins benchmarks

clean:
	rm -rf $(VENV) .benchbench-cache results/quickstart
