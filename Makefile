# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   train + evaluate SelecSLS on real handwritten digits (CPU, a few minutes)
#   make test   run the test suite
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

.PHONY: env demo test test-fast clean-venv

env: $(STAMP)

$(STAMP): requirements/runtime.txt requirements/build.txt requirements/tests.txt setup.py Makefile
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
	@$(PIP) install -q -r requirements/tests.txt $(QUIET)
	@$(PIP) install -q --no-deps --no-build-isolation -e . $(QUIET)
	@$(PY) -W ignore -c "import selecsls_mm, mmpose.apis, mmpretrain.apis; print('[env] ok: selecsls_mm, mmpretrain.apis and mmpose.apis import')"
	@touch $@

demo: $(STAMP)
	$(PY) tools/digits_demo.py

test: $(STAMP)
	$(PY) -m pytest tests

test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not slow"

clean-venv:
	rm -rf $(VENV)
