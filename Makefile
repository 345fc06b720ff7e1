# airwarn — two commands on a fresh machine: `make demo` and `make test`.
#
# Installs come from the hash-locked sets in requirements/ (regenerate with `make lock`):
#   requirements/dev.lock      runtime + dev extra + build backend (make install/test/demo)
#   requirements/runtime.lock  runtime + build backend only          (make check-runtime)
#   requirements/pip.lock      pip itself, installed first
#   requirements/tools.lock    uv, the resolver of `make lock`
# `make test-latest` tries the newest release of everything (no lock) in .venv-latest.
#
# About this machine's pip configuration (/etc/pip.conf, /etc/xdg/pip/pip.conf,
# ~/.config/pip/pip.conf): it adds local file:// mirrors of PyPI and /opt/wheels. The locked
# install keeps that configuration on purpose: every mirrored wheel of a locked version has the
# same sha256 as PyPI's (checked when the lock was made, see docs/notes/h16-stack.md), so
# --require-hashes passes and the mirrors save the downloads. Should a mirror ever carry a
# different build of a pinned version, pip stops with "THESE PACKAGES DO NOT MATCH THE HASHES";
# then run `make install PIP_LOCKED_ENV='PIP_CONFIG_FILE=/dev/null'` (PyPI only; PIP_CERT stays).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LOCK_DEV     := requirements/dev.lock
LOCK_RUNTIME := requirements/runtime.lock
LOCK_PIP     := requirements/pip.lock
PIP_LOCKED_ENV ?=
# `make lock`: the resolver, pinned with hashes in requirements/tools.lock (uv==0.13.9).
LOCK_PYTHON   := 3.11
LOCK_PLATFORM := x86_64-manylinux_2_28
LOCK_INDEX    := https://pypi.org/simple
LOCK_UPGRADE  ?=
PYTEST := -m pytest -q -p no:cacheprovider

.PHONY: demo test install lint bench clean lock lock-upgrade test-latest check-runtime

# venv with pip (a `uv venv` has none; ensurepip adds it)
define make_venv
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	@$(1)/bin/python -m pip --version >/dev/null 2>&1 || $(1)/bin/python -m ensurepip --upgrade >/dev/null
endef

# locked install: the locked pip first (the bundled one fails --require-hashes on packages that
# depend on another's extra), then exact versions and hashes, then airwarn itself without deps.
# -qq: pip warns once per package and file:// mirror that lacks it (~220 lines); errors show.
define locked_install
	$(call make_venv,$(1))
	env $(PIP_LOCKED_ENV) $(1)/bin/python -m pip install -qq --require-hashes -r $(LOCK_PIP)
	env $(PIP_LOCKED_ENV) $(1)/bin/python -m pip install -qq --require-hashes -r $(2)
	env $(PIP_LOCKED_ENV) $(1)/bin/python -m pip install -qq --no-deps --no-build-isolation -e .
endef

$(STAMP): pyproject.toml $(LOCK_DEV) $(LOCK_PIP)
	$(call locked_install,$(VENV),$(LOCK_DEV))
	@if [ -f scripts/system-deps.sh ]; then bash scripts/system-deps.sh; fi
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/airwarn demo

test: $(STAMP)
	$(PY) $(PYTEST) --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# Regenerate both locks from pyproject.toml (+ requirements/build.in). Keeps the current pins
# where they still satisfy pyproject (small diffs after adding a dependency);
# `make lock-upgrade` moves everything to the newest compatible releases.
# runtime.lock is resolved inside dev.lock (-c) so the two never disagree on a version.
lock:
	$(call make_venv,$(VENV))
	@$(VENV)/bin/uv --version 2>/dev/null | grep -qF "$$(sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements/tools.lock)" \
		|| $(PY) -m pip install -qq --require-hashes -r requirements/tools.lock
	$(VENV)/bin/uv pip compile --quiet pyproject.toml requirements/build.in --extra dev \
		$(LOCK_UPGRADE) --generate-hashes --python-version $(LOCK_PYTHON) \
		--python-platform $(LOCK_PLATFORM) --default-index $(LOCK_INDEX) \
		--custom-compile-command 'make lock' -o $(LOCK_DEV)
	$(VENV)/bin/uv pip compile --quiet pyproject.toml requirements/build.in -c $(LOCK_DEV) \
		$(LOCK_UPGRADE) --generate-hashes --python-version $(LOCK_PYTHON) \
		--python-platform $(LOCK_PLATFORM) --default-index $(LOCK_INDEX) \
		--custom-compile-command 'make lock' -o $(LOCK_RUNTIME)
	$(VENV)/bin/uv pip compile --quiet requirements/pip.in $(LOCK_UPGRADE) --generate-hashes \
		--python-version $(LOCK_PYTHON) --python-platform $(LOCK_PLATFORM) \
		--default-index $(LOCK_INDEX) --custom-compile-command 'make lock' -o $(LOCK_PIP)
	$(VENV)/bin/uv pip compile --quiet requirements/tools.in --generate-hashes \
		--python-version $(LOCK_PYTHON) --python-platform $(LOCK_PLATFORM) \
		--default-index $(LOCK_INDEX) --custom-compile-command 'make lock' -o requirements/tools.lock
	@$(PY) scripts/check_lock_mirrors.py $(LOCK_DEV) $(LOCK_RUNTIME) $(LOCK_PIP)

lock-upgrade:
	$(MAKE) lock LOCK_UPGRADE=--upgrade

# The newest release of everything (no lock), in its own venv: is the next lock safe to take?
test-latest:
	$(call make_venv,.venv-latest)
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[dev]'
	.venv-latest/bin/python -m pip list 2>/dev/null | grep -i -E '^(numpy|pandas|xarray|prefect|lightgbm) '
	.venv-latest/bin/python $(PYTEST) --durations=5

# A venv from runtime.lock alone: every module imports and a bulletin with CAP renders.
check-runtime:
	$(call locked_install,.venv-runtime,$(LOCK_RUNTIME))
	.venv-runtime/bin/python scripts/check_runtime.py

clean:
	rm -rf $(VENV) .venv-latest .venv-runtime data
