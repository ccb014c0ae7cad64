# Two commands do all set-up: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean browser

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

# the HTML-report test renders report.html in headless Chromium: Debian's package, installed here when missing
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "make: installing Debian's chromium for the HTML-report test (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; }

test: $(STAMP) browser
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --durations=10
	$(VENV)/bin/ruff check sim2real runtime envs policies tests benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check sim2real runtime envs policies tests benchmarks

bench: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) benchmarks/env_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
