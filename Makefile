# Two commands do all set-up: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean browser docs docs-check dist

SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# ./runtime (sim2real-runtime, numpy + onnxruntime) goes in before the main package, which depends on it.
$(STAMP): $(PY) pyproject.toml runtime/pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e ./runtime
	$(PIP) install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/sim2real demo

# the HTML-report test renders report.html in headless Chromium, and the video tests render MuJoCo offscreen through
# Mesa's EGL (MUJOCO_GL=egl, no GPU needed): Debian's packages, installed here when missing
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "make: installing Debian's chromium for the HTML-report test (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; }
	@ldconfig -p 2>/dev/null | grep -q libEGL_mesa || { \
	  echo "make: installing Mesa's EGL for headless rendering (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    libegl1 libegl-mesa0 libgl1-mesa-dri libgles2; }

test: $(STAMP) browser
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --durations=10
	$(VENV)/bin/ruff check sim2real runtime envs policies tests benchmarks docs build_backend
	$(MAKE) --no-print-directory docs-check

# the documentation site (Sphinx, furo, MyST): docs/_build/html; `make test` builds it with -W into a temporary
# directory; tests/test_docs.py checks that the generated pages (command and parameter reference, results) match
# the code
docs: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) docs/generate.py
	OMP_NUM_THREADS=1 $(VENV)/bin/sphinx-build -W -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

docs-check: $(STAMP)  # (the pytest suite checks the generated pages too: tests/test_docs.py)
	@tmp=$$(mktemp -d) && OMP_NUM_THREADS=1 MUJOCO_GL=egl $(VENV)/bin/sphinx-build -W -q -b html -d $$tmp/doctrees docs $$tmp/html \
	  && echo "docs: sphinx-build -W clean" && rm -rf $$tmp

# both wheels (sim2real-runtime first: sim2real depends on it and no index has it) into dist/
dist: $(STAMP)
	rm -rf dist && $(PIP) wheel --quiet --no-deps -w dist ./runtime .
	@ls dist

lint: $(STAMP)
	$(VENV)/bin/ruff check sim2real runtime envs policies tests benchmarks docs build_backend

bench: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) benchmarks/env_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info docs/_build dist
