# Two commands for a fresh machine: `make lab` and `make test` (see README.md).
SHELL := /bin/bash
# Where the environment sets PYTHONDONTWRITEBYTECODE (this machine does), every kernel and test process would
# compile torch anew; without it Python caches each module's bytecode the first time it is imported.
unexport PYTHONDONTWRITEBYTECODE
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV := $(VENV)/bin/uv
TORCH_PIN := $(VENV)/torch-pin.txt
FIRST_NOTEBOOK := $(firstword $(sort $(wildcard notebooks/*.ipynb)))
CHROMIUM := /usr/bin/chromium
# configurable-http-proxy for the classroom test, pinned by benchmarks/proxy/package-lock.json.
PROXY_DIR := benchmarks/proxy
PROXY := $(PROXY_DIR)/node_modules/.bin/configurable-http-proxy
N ?= 10
K ?= 20

.PHONY: venv lab test lint pytest browser-deps proxy classroom-test bench screenshots handout clean

$(PY):
	python3.11 -m venv $(VENV) || python3 -m venv $(VENV)

# Reinstall only when requirements or packaging change. torch comes first, from pip: only pip finds the
# machine's CPU wheel of the pinned release. The rest comes from uv, constrained to that same pin so that it
# can never fetch another torch build; it resolves and installs in seconds where pip took minutes (most of
# them compiling every file of site-packages to bytecode; Python now compiles a module when it is first imported).
# --no-deps on requirements-nodeps.txt: packages whose declared dependencies would pull torch unpinned.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml | $(PY)
	grep -m1 '^torch==' requirements.txt > $(TORCH_PIN)
	$(PY) -m pip install --quiet --no-compile -r $(TORCH_PIN) "uv>=0.9" 2>&1 | grep -v "is ignored"; exit $${PIPESTATUS[0]}
	$(UV) pip install --python $(PY) --quiet --constraint $(TORCH_PIN) -r requirements.txt
	$(UV) pip install --python $(PY) --quiet --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

venv: $(STAMP)

lab: venv
	@echo "Opening JupyterLab on $(or $(FIRST_NOTEBOOK),notebooks/); the URL with its token is printed below."
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(or $(FIRST_NOTEBOOK),notebooks/)

# The browser test needs Debian's chromium; root installs it, anyone else is told how.
browser-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser test needs Debian's chromium at $(CHROMIUM). Install it with:"; \
	    echo "    sudo apt-get update && sudo apt-get install -y chromium"; \
	    exit 1; \
	  fi; \
	fi

# npm ci installs exactly the lock file; --loglevel=error hides commander's engine notice (it runs on node 20.19+).
$(PROXY): $(PROXY_DIR)/package.json $(PROXY_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "The classroom test needs node >= 20 and npm (Debian: apt-get install nodejs npm)"; exit 1; }
	npm ci --prefix $(PROXY_DIR) --no-audit --no-fund --loglevel=error
	touch $(PROXY)

proxy: $(PROXY)

# N simulated students (default 10) on a JupyterHub on 127.0.0.1, K moves each; measurements in benchmarks/classroom.json.
classroom-test: venv proxy
	CLASSROOM_STUDENTS=$(N) CLASSROOM_MOVES=$(K) CLASSROOM_JSON=benchmarks/classroom.json \
	  $(PY) -m pytest tests/test_classroom.py -q -s

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Two workers, each running one test file or notebook at a time (--dist loadfile), taken in collection order:
# by default xdist starts the files with the most tests first, which left the two browser files (a few tests of
# about a minute each) to the end, both at once.
test: venv browser-deps proxy lint
	CLASSROOM_STUDENTS=3 $(PY) -m pytest --nbval --nbval-current-env -q -n 2 --dist loadfile --no-loadscope-reorder \
	  --durations=15

bench: venv browser-deps proxy
	$(PY) -m benchmarks.run

# One static HTML page of every notebook with its stored figures (no kernel, no network): build/handout/.
handout: venv
	$(PY) docs/handout.py build/handout

screenshots: venv browser-deps
	$(PY) -m pytest tests/test_browser.py tests/test_browser_second_wave.py -q --screenshots-to=docs

clean:
	rm -rf $(VENV) tests/artifacts build $(PROXY_DIR)/node_modules
