# irqfwd developer entry points.  `make test` is all CI runs (.ci/run).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# The optional mypyc build of the simulation hot path (docs/performance.md, "Compiled
# build (mypyc)").  The module list lives in scripts/build_accel.py only.
ACCEL_DIR      := build/accel
ACCEL_MANIFEST := $(ACCEL_DIR)/manifest.json
ACCEL_SOURCES   = $(shell $(PYTHON) scripts/build_accel.py --list)
# pytest-xdist workers of `make test` (one per core; the QEMU probe build is locked, each
# worker starts its own QEMU): `make test WORKERS=0` runs in one process.
WORKERS        ?= auto
# The suites that also run against the compiled modules (IRQFWD_ACCEL=require).
ACCEL_SUITES   := tests/hw tests/regs tests/sim tests/host tests/guest tests/check tests/system tests/scenarios tests/devices tests/calibrate tests/cli tests/accel tests/test_golden.py

.PHONY: install system-deps test lint unit bench run clean compile uncompile accel

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Rebuilt when a compiled source, the build script or the venv changes (~70 s).  A failed
# build warns and leaves pure Python in use, except under CI=true where it is an error.
$(ACCEL_MANIFEST): $(STAMP) scripts/build_accel.py $(ACCEL_SOURCES)
	$(PY) scripts/build_accel.py --make --out $(ACCEL_DIR)

accel: $(ACCEL_MANIFEST)

install: $(STAMP) accel

compile: $(STAMP)
	$(PY) scripts/build_accel.py --out $(ACCEL_DIR)

uncompile:
	rm -rf $(ACCEL_DIR)

# Debian packages the QEMU differential tests need (qemu-system-arm,
# gcc-aarch64-linux-gnu).  Installed through apt when missing and apt is usable;
# otherwise the script explains why, and the QEMU tests are skipped (or fail under CI=true).
system-deps:
	@bash scripts/ensure-system-deps.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts/build_accel.py scripts/golden.py
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

unit: $(STAMP)
	IRQFWD_ACCEL=off $(VENV)/bin/pytest -q

# The whole suite on the .py sources, then the model suites on the compiled modules.
test: install system-deps lint
	IRQFWD_ACCEL=off $(VENV)/bin/pytest -q -n $(WORKERS)
	@if [ -f $(ACCEL_MANIFEST) ] || [ "$$CI" = true ]; then \
		echo "IRQFWD_ACCEL=require $(VENV)/bin/pytest -q -n $(WORKERS) $(ACCEL_SUITES)"; \
		IRQFWD_ACCEL=require $(VENV)/bin/pytest -q -n $(WORKERS) $(ACCEL_SUITES); \
	else \
		echo "WARNING: no compiled build ($(ACCEL_DIR)); the compiled test run is skipped"; \
	fi

bench: install
	$(VENV)/bin/irqfwd bench

run: install
	$(VENV)/bin/irqfwd compare nic-level

clean: uncompile
	rm -rf $(VENV) probe/build .pytest_cache .mypy_cache .ruff_cache
