# Newcomer entry points: `make run` (default suite on the virtual lab) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint venv clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# the virtual lab as fast as this machine allows (README: time-warp); RUN_SPEED=1 for real time
RUN_SPEED ?= max
run: $(STAMP)
	$(BIN)/bench run --speed $(RUN_SPEED)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# time-warp benchmarks with the machine load next to each figure (tests/benchmarks/), e.g.
# make bench ARGS="--only library --compare-real-time"
bench: $(STAMP)
	$(BIN)/python tests/benchmarks/warp_benchmarks.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check bench instruments
	$(BIN)/mypy bench instruments

clean:
	rm -rf $(VENV) results/*/

# The whole scenario library against an independent charge point (tests/interop/), e.g.
# make interop PEER=ocpp-virtual-charge-point OCPP=2.0.1 ARGS=--isolate
.PHONY: interop
PEER ?= ocpp-virtual-charge-point
OCPP ?= 1.6
interop: $(STAMP)
	$(BIN)/python tests/interop/run_peer.py --peer $(PEER) --ocpp $(OCPP) $(ARGS)
