# irqfwd developer entry points.  `make test` is all CI runs (.ci/run).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install system-deps test lint unit bench run clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the QEMU differential tests need (qemu-system-arm,
# gcc-aarch64-linux-gnu).  Installed through apt when missing and apt is usable;
# otherwise the script explains why, and the QEMU tests are skipped (or fail under CI=true).
system-deps:
	@bash scripts/ensure-system-deps.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -q

test: $(STAMP) system-deps lint
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(VENV)/bin/irqfwd bench

run: $(STAMP)
	$(VENV)/bin/irqfwd compare nic-level

clean:
	rm -rf $(VENV) probe/build .pytest_cache .mypy_cache .ruff_cache
