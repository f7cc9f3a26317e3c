# make demo | make test | make bench — each creates ./.venv when missing and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.benchbench-installed
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
PIP    := $(BIN)/python -m pip install -q -c constraints.txt
export YOLO_OFFLINE := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg
# every plugin in plugins/ is installed here, the MLflow observer too: its logging is opt-in in this
# repo (BENCHBENCH_MLFLOW=on make demo) so that the demo and the tests do not each fill an MLflow store
export BENCHBENCH_MLFLOW ?= off

.PHONY: install test test-fast demo bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(PIP) torch==2.14.1 torchvision==0.29.1
	$(PIP) -e '.[dev,ray,slurm]' $(foreach p,$(PLUGINS),-e $(p))
	touch $@

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
