# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Prefer Python 3.12 (pyenv's 3.12 needs PYENV_VERSION to answer), else python3 (>= 3.11).
PYTHON ?= $(shell if PYENV_VERSION=3.12.1 python3.12 -c 'import sys' >/dev/null 2>&1; then echo "env PYENV_VERSION=3.12.1 python3.12"; elif python3.12 -c 'import sys' >/dev/null 2>&1; then echo python3.12; else echo python3; fi)

.PHONY: setup install bytecode contracts monitoring-tools chromium ui-vendor screenshots audit-tools dashboards demo down worker test test-unit lint audit bench soak drills clean
# apt as root, else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is needed"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The workflow sandbox imports the workflows package afresh for every workflow it runs (its
# isolation). Byte-compiled, as pip leaves an installed wheel (the image), that import reads code
# instead of compiling it: about 10 ms less per operation started, more per engine or replay.
# Machines that set PYTHONDONTWRITEBYTECODE never write it themselves; compileall does.
bytecode: $(VENV)/.installed
	$(PY) -m compileall -q workflows

install: $(VENV)/.installed node_modules/.installed bytecode

contracts: $(VENV)/.installed node_modules/.installed
	node contracts/compile.mjs

# Debian's Prometheus (with promtool) and Alertmanager (with amtool), when missing.
monitoring-tools:
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null \
	    || ! command -v prometheus-alertmanager >/dev/null || ! command -v amtool >/dev/null; then \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    prometheus prometheus-alertmanager; \
	fi

# Debian's chromium, when missing: the dashboard's browser tests drive it through Playwright
# (tests/integration/test_ui_browser.py; Playwright downloads no browser of its own).
chromium:
	@if ! command -v chromium >/dev/null; then \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	fi

# The dashboard's htmx, copied from npm's package into api/ui/static/vendor (committed; a unit
# test checks it is the file and version package.json names).
ui-vendor: node_modules/.installed
	cp node_modules/htmx.org/dist/htmx.min.js api/ui/static/vendor/htmx.min.js
	cp node_modules/htmx.org/LICENSE api/ui/static/vendor/htmx.LICENSE

# Screenshots of every dashboard page (docs/ui/*.png, at 1280 px and a phone's width): a real
# engine on the local stack, the demo treasury allocated, a month of history in its store.
screenshots: install contracts chromium
	FLOOR_UI_SCREENSHOTS=docs/ui $(PY) -m pytest -q -p no:cacheprovider tests/integration/test_ui_browser.py -k screenshots

# The audit tools in venvs of their own (each pins its own web3 and eth packages): Slither and
# pip-audit for `make lint`, Mythril for `make audit` (docs/audit/README.md).
AUDIT_VENV := .venv-audit
MYTHRIL_VENV := .venv-mythril
$(AUDIT_VENV)/.installed:
	test -x $(AUDIT_VENV)/bin/python || $(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/pip install --quiet slither-analyzer==0.11.6 pip-audit==2.10.1
	touch $@
$(MYTHRIL_VENV)/.installed:
	test -x $(MYTHRIL_VENV)/bin/python || $(PYTHON) -m venv $(MYTHRIL_VENV)
	$(MYTHRIL_VENV)/bin/pip install --quiet mythril==0.24.8 'setuptools<81'
	touch $@
audit-tools: $(AUDIT_VENV)/.installed

# Regenerate deploy/grafana/*.json from scripts/dashboards.py (a unit test checks they match).
dashboards: install
	$(PY) -m scripts.dashboards

demo: install contracts monitoring-tools
	$(PY) scripts/demo.py

down:
	$(PY) scripts/stack.py down

# Restart only the demo's worker (same config and signer); Temporal, the chains and the engine stay.
worker: install
	$(PY) scripts/stack.py worker

# The two virtualenvs and the npm packages install side by side (apt, in monitoring-tools and
# chromium, stays one at a time): on a fresh 2-core machine, about 15 s less of `make test`.
setup:
	$(MAKE) -j3 install audit-tools

# Two pytest workers (pytest-xdist), a test file at a time each: the integration tests mostly
# wait on chains and Temporal, so the machine's two cores run two files at once. Each worker
# starts its own Temporal dev server and chains (session fixtures). Files go in collection
# order, the slowest first (tests/conftest.py), not in xdist's order by number of tests.
test: setup contracts monitoring-tools chromium lint
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

lint: install monitoring-tools audit-tools
	$(VENV)/bin/ruff check api cli client floor activities workflows workers scripts tests
	$(VENV)/bin/ruff format --check api cli client floor activities workflows workers scripts tests
	$(VENV)/bin/mypy  # strict on floor/ (pyproject's [tool.mypy])
	PY=$(PY) ./scripts/check_alerting.sh  # promtool check config / rules, promtool test rules, amtool check-config
	$(PY) -m scripts.dashboards --check  # deploy/grafana/*.json is what the generator makes now
	./scripts/check_deploy.sh  # actionlint (workflows), hadolint (Containerfile), kubectl kustomize + kubernetes-validate (deploy/k8s overlays)
	$(AUDIT_VENV)/bin/python scripts/audit/slither_check.py  # the engine's Solidity, every finding triaged (docs/audit/)
	$(AUDIT_VENV)/bin/python scripts/audit/pip_audit.py  # known vulnerabilities in the dependencies, where PyPI's advisories are reachable

# Everything `make lint` checks for an audit, and Mythril on the executor's bytecode (minutes).
audit: lint $(MYTHRIL_VENV)/.installed
	$(MYTHRIL_VENV)/bin/python scripts/audit/mythril_check.py

# The long versions of the suite's drills: a full minute of RPC outage while confirming, and
# every README example again after a day of chain time (the suite: the reads), and a worker
# killed at every failpoint of a transaction's life (the suite: two of five).
drills: install contracts
	FLOOR_OUTAGE_S=60 $(PY) -m pytest -q tests/integration/test_txqueue_operations.py -k outage
	FLOOR_README_FULL=1 $(PY) -m pytest -q tests/integration/test_readme_examples.py
	FLOOR_ALL_FAILPOINTS=1 $(PY) -m pytest -q tests/integration/test_txqueue_crash.py

test-unit: install
	$(PY) -m pytest -q tests/unit

# Two weeks of the engine compressed onto the local chains: 336 hourly cycles (anvil's clock
# warped), faults on a seeded schedule, the invariants after every cycle; writes docs/soak/
# (report.md, summary.json for the promotion gate, soak.svg). The suite runs a short one.
soak: install contracts
	$(PY) -m scripts.soak --cycles 336 --seed 7 --out docs/soak

bench: install contracts
	$(PY) -m scripts.bench

clean: down
	rm -rf state contracts/build
