# The stack's commands. `make serve` and `make test` work on a fresh machine with only Python 3.11.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
LOCK := requirements.lock
# the venv is rebuilt when pyproject.toml or the lock changes
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
ARTIFACTS ?= artifacts
PROFILE ?= quick

.PHONY: setup browser lock train export archive serve stop test lint proto loadtest soak bench clean

setup: $(STAMP)

# The lock's pins are constraints: every distribution installed is at its locked version (docker/lock.py).
$(STAMP): pyproject.toml $(LOCK)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint $(LOCK) -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

lock:  ## re-resolve requirements.lock from pyproject.toml after changing its dependencies (uv, seconds), then make setup
	@test -x $(PY) || { echo "error: no $(VENV) yet: run make setup first (it installs uv)"; exit 2; }
	$(PY) -m uv --version >/dev/null 2>&1 || $(PY) -m pip install --quiet --constraint $(LOCK) uv
	$(PY) docker/lock.py

train: setup  ## train and export every curriculum model (quick profile by default)
	$(PY) -m training train --profile $(PROFILE) --artifacts $(ARTIFACTS)

export: setup  ## train and export only the models whose artifacts are missing
	$(PY) -m training train --missing --profile $(PROFILE) --artifacts $(ARTIFACTS)

archive: export  ## one reproducible .mar per model into model_store/, and KServe's layout in build/kserve/
	$(PY) -m serving.archive --artifacts $(ARTIFACTS) --store model_store
	$(PY) -m serving.archive.kserve --store model_store --out build/kserve

serve: archive  ## the whole stack on 127.0.0.1 in the foreground: TorchServe behind the gateway; Ctrl-C stops both
	TS_MODEL_STORE=model_store GATEWAY_MODEL_STORE=model_store $(PY) -m serving.stack

stop: setup  ## stop a TorchServe left running (e.g. by `python -m serving.modelserver start`)
	$(PY) -m serving.modelserver stop

# Debian's Chromium and its driver for the playground's browser tests (tests/browser.py): apt, never a browser
# download. Where apt cannot run (not root), the browser tests skip; in CI (CI set) a failed install fails.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends chromium chromium-driver >/dev/null; } || \
	{ [ -z "$$CI" ] && echo "note: chromium and chromium-driver are missing; the browser tests will skip"; }

test: setup browser
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

proto: setup  ## regenerate the gateway's gRPC messages (inference_pb2.py/.pyi) from inference.proto
	$(PY) -m serving.gateway.frontends.grpc_v2.regenerate

LOADTEST_ARGS ?=
loadtest: archive  ## Locust, headless, on the running stack (or one started for the run); reports/ and the SLO
	$(PY) -m loadtests run $(LOADTEST_ARGS)

SOAK_ARGS ?=
soak: archive  ## 30 minutes of mixed load at 32 users; fails on any error or >10% memory growth
	$(PY) -m loadtests soak $(SOAK_ARGS)

bench: archive  ## the stack (in-process, TorchServe, gateway v1 and v2) against its peers, with wrk; writes docs/benchmarks.md
	$(PY) -m loadtests bench

clean:
	rm -rf $(ARTIFACTS) model_store build/kserve .torchserve reports .pytest_cache .mypy_cache .ruff_cache
