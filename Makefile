# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   train + evaluate SelecSLS on real handwritten digits (CPU, a few minutes)
#   make test   run the test suite
#   make lint   OpenMMLab style checks (flake8, isort, yapf; config in setup.cfg); make format applies them
# Both create or refresh .venv first; that step is a no-op when the requirements did not change.

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
# pip's config on these machines names local indexes that lack most packages;
# drop its "Location ... is ignored" noise, keep everything else.
PIP    := $(PY) -m pip --disable-pip-version-check
QUIET  := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
SHELL  := /bin/bash
.SHELLFLAGS := -o pipefail -ec
STAMP  := $(VENV)/.installed
MMPOSE_VERSION := 1.1.0

.PHONY: env demo test test-fast lint format clean-venv env-full test-full mmcv-wheel clean-venv-full mutate

env: $(STAMP)

$(STAMP): requirements/runtime.txt requirements/pose.txt requirements/build.txt requirements/tests.txt \
          requirements/lint.txt setup.py Makefile
	@test -x $(PY) || { echo "[env] creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "[env] build tools, then the pinned stack (requirements/runtime.txt)"
	@$(PIP) install -q -r requirements/build.txt $(QUIET)
	@$(PIP) install -q -r requirements/runtime.txt $(QUIET)
	@# xtcocotools' wheels are built against numpy 1.x and crash on numpy 2: build from source.
	@$(PY) -c "import xtcocotools.coco" 2>/dev/null || { echo "[env] building xtcocotools from source"; \
	  $(PIP) install -q --no-binary xtcocotools --no-build-isolation xtcocotools $(QUIET); }
	@# mmpose's requirements pull chumpy, which does not build: its real needs are in runtime.txt.
	@echo "[env] mmpose $(MMPOSE_VERSION) (--no-deps), test requirements, selecsls-mm (editable)"
	@$(PIP) install -q --no-deps mmpose==$(MMPOSE_VERSION) $(QUIET)
	@$(PIP) install -q -r requirements/tests.txt -r requirements/lint.txt $(QUIET)
	@$(PIP) install -q --no-deps --no-build-isolation -e . $(QUIET)
	@$(PY) -W ignore -c "import selecsls_mm, mmpose.apis, mmpretrain.apis; print('[env] ok: selecsls_mm, mmpretrain.apis and mmpose.apis import')"
	@touch $@

demo: $(STAMP)
	$(PY) tools/digits_demo.py

test: $(STAMP)
	$(PY) -m pytest tests

test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not slow"

LINT_PATHS := selecsls_mm tools tests configs setup.py .dev

# Mutation testing of the core modules (docs/testing.md; not in CI: hours for all on 2 cores, from seconds to
# over an hour a module, each module's time in the table there).
# make mutate MODULE=deploy runs one; results in work_dirs/mutate/.
mutate: $(STAMP)
	@$(PIP) install -q -r requirements/mutate.txt $(QUIET)
	nice -n 10 $(PY) .dev/mutate.py $(if $(MODULE),--module $(MODULE))

lint: $(STAMP)
	$(PY) -m flake8 $(LINT_PATHS)
	$(PY) -m isort --check-only --diff $(LINT_PATHS)
	$(PY) -m yapf --diff --recursive $(LINT_PATHS)

format: $(STAMP)
	$(PY) -m isort $(LINT_PATHS)
	$(PY) -m yapf --in-place --recursive $(LINT_PATHS)

clean-venv:
	rm -rf $(VENV)

# ---------------------------------------------------------------------------------------------
# Full stack (what most OpenMMLab users run): mmcv 2.1.0 WITH compiled ops, mmpose 1.3.2,
# mmdet 3.3.0, in a second environment.  `make env-full` builds mmcv from its PyPI sdist once
# (CPU ops, ~20 min on a fresh 2-core machine, over an hour on a shared one) and caches the wheel outside the checkout, keyed by the torch
# version it was built against; later runs (and fresh checkouts) reuse it.
VENV_FULL  ?= .venv-full
PY_FULL    := $(VENV_FULL)/bin/python
PIP_FULL   := $(PY_FULL) -m pip --disable-pip-version-check
STAMP_FULL := $(VENV_FULL)/.installed
TORCH_VERSION       := 2.14.1
MMCV_VERSION        := 2.1.0
MMPOSE_FULL_VERSION := 1.3.2
WHEEL_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/selecsls-mm/wheels/torch-$(TORCH_VERSION)
MMCV_WHEEL  := $(WHEEL_CACHE)/mmcv-$(MMCV_VERSION)-cp311-cp311-linux_x86_64.whl
# The build uses 2 compile jobs at the lowest CPU priority, so the machine stays usable.
MMCV_MAX_JOBS ?= 2
MMCV_BUILD_LOG = $(WHEEL_CACHE)/mmcv-$(MMCV_VERSION)-build.log

$(VENV_FULL)/.base: requirements/build.txt requirements/full-base.txt
	@test -x $(PY_FULL) || { echo "[env-full] creating $(VENV_FULL)"; $(PYTHON) -m venv $(VENV_FULL); }
	@echo "[env-full] build tools, torch, mmengine (requirements/full-base.txt)"
	@$(PIP_FULL) install -q -r requirements/build.txt -r requirements/full-base.txt $(QUIET)
	@touch $@

mmcv-wheel: $(MMCV_WHEEL)

# mmcv 2.1.0's setup.py asks for -std=c++17, but torch >= 2.10's headers need C++20 (torch's
# own extension flags say -std=c++20); the sdist is patched to C++20 and otherwise unchanged.
$(MMCV_WHEEL): | $(VENV_FULL)/.base
	@echo "[env-full] building mmcv $(MMCV_VERSION) with CPU ops from source (once; ~20 min on 2 idle cores)"
	@echo "[env-full] progress: tail -f $(MMCV_BUILD_LOG)"
	@mkdir -p $(WHEEL_CACHE)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(PIP_FULL) download -q --no-deps --no-binary :all: mmcv==$(MMCV_VERSION) -d "$$tmp" $(QUIET) && \
	  tar -xzf "$$tmp"/mmcv-$(MMCV_VERSION).tar.gz -C "$$tmp" && \
	  sed -i 's/-std=c++17/-std=c++20/g' "$$tmp"/mmcv-$(MMCV_VERSION)/setup.py && \
	  start=$$(date +%s) && \
	  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$(MMCV_MAX_JOBS) nice -n 19 \
	    $(PIP_FULL) wheel -v --no-deps --no-build-isolation -w "$$tmp/out" \
	    "$$tmp"/mmcv-$(MMCV_VERSION) > $(MMCV_BUILD_LOG) 2>&1 \
	    || { tail -40 $(MMCV_BUILD_LOG); echo "[env-full] mmcv build failed: $(MMCV_BUILD_LOG)"; exit 1; } && \
	  mv "$$tmp"/out/mmcv-$(MMCV_VERSION)-*.whl $@.part && mv $@.part $@ && \
	  echo "[env-full] mmcv wheel built in $$(( ($$(date +%s) - start) / 60 )) min: $@"

$(STAMP_FULL): $(VENV_FULL)/.base $(MMCV_WHEEL) requirements/full.txt requirements/pose.txt requirements/tests.txt setup.py Makefile
	@echo "[env-full] mmcv $(MMCV_VERSION) from $(MMCV_WHEEL), mmpretrain, mmdet (requirements/full.txt)"
	@$(PIP_FULL) install -q $(MMCV_WHEEL) -r requirements/full.txt $(QUIET)
	@$(PY_FULL) -c "import xtcocotools.coco" 2>/dev/null || { echo "[env-full] building xtcocotools from source"; \
	  $(PIP_FULL) install -q --no-binary xtcocotools --no-build-isolation xtcocotools $(QUIET); }
	@echo "[env-full] mmpose $(MMPOSE_FULL_VERSION) (--no-deps), test requirements, selecsls-mm (editable)"
	@$(PIP_FULL) install -q --no-deps mmpose==$(MMPOSE_FULL_VERSION) $(QUIET)
	@$(PIP_FULL) install -q -r requirements/tests.txt $(QUIET)
	@$(PIP_FULL) install -q --no-deps --no-build-isolation -e . $(QUIET)
	@$(PY_FULL) -W ignore -c "import mmcv.ops, mmdet.apis, mmpose.apis, selecsls_mm.pose; \
	  import mmcv, mmdet, mmpose; print('[env-full] ok: mmcv', mmcv.__version__, '(ops), mmdet', \
	  mmdet.__version__, ', mmpose', mmpose.__version__)"
	@touch $@

env-full: $(STAMP_FULL)

# SELECSLS_MM_FULL_STACK=1: tests that need the full stack fail instead of skipping.
test-full: $(STAMP_FULL)
	SELECSLS_MM_FULL_STACK=1 $(PY_FULL) -m pytest tests -rs

clean-venv-full:
	rm -rf $(VENV_FULL)
