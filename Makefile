# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   train + evaluate SelecSLS on real handwritten digits (CPU, a few minutes)
#   make test   run the test suite
# Both create or refresh .venv first; that step is a no-op when the requirements did not change.

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed
MMPOSE_VERSION := 1.1.0

.PHONY: env demo test test-fast clean-venv

env: $(STAMP)

$(STAMP): requirements/runtime.txt requirements/build.txt requirements/tests.txt setup.py Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements/build.txt
	$(PIP) install -q -r requirements/runtime.txt
	@# xtcocotools' wheels are built against numpy 1.x and crash on numpy 2: build from source.
	$(PY) -c "import xtcocotools.coco" 2>/dev/null || \
	  $(PIP) install -q --no-binary xtcocotools --no-build-isolation xtcocotools
	@# mmpose's requirements pull chumpy, which does not build: its real needs are in runtime.txt.
	$(PIP) install -q --no-deps mmpose==$(MMPOSE_VERSION)
	$(PIP) install -q -r requirements/tests.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	$(PY) -c "import mmpose.apis, mmpretrain.apis, selecsls_mm; print('environment ok')"
	@touch $@

demo: $(STAMP)
	$(PY) tools/digits_demo.py

test: $(STAMP)
	$(PY) -m pytest tests

test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not slow"

clean-venv:
	rm -rf $(VENV)
