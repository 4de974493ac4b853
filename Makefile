# Two commands for a fresh clone (Python 3.11, make, and the package registries):
#   make demo   on the three-standalone simulated lab: build a pool, rolling maintenance, pool report
#   make test   every check CI runs, in order, stopping at the first failure
# Sub-targets: setup unit simulator-tests integration molecule sanity lint ee-context
# Not part of make test: bench (figures against their limits), rehearse TWIN=... PLAYBOOK=... EXTRA=...

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Re-install only when the pinned requirements or the simulator's packaging change.
STAMP := $(VENV)/.installed
COLLECTION_LINK := collections/ansible_collections/xenserver/pools
SANITY_ROOT := build/sanity/ansible_collections/xenserver/pools
PYTEST_WORKERS ?= 2
# The pip version ansible-test 2.19 bootstraps into its sanity venvs.
GET_PIP_CACHE := $(HOME)/.ansible/test/cache/get_pip_24_2.py

# The checkout is importable as xenserver.pools through collections/ (a symlink to the root).
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/collections
# Keep Ansible's state (molecule's installed copy, tmp) inside the checkout, not in ~/.ansible.
export ANSIBLE_HOME := $(CURDIR)/.ansible
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_LOCALHOST_WARNING := false
export ANSIBLE_INVENTORY_UNPARSED_WARNING := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Tools call each other by name (antsibull-docs runs ansible-doc, ansible-lint runs ansible-playbook).
export PATH := $(BIN):$(PATH)

.PHONY: demo test setup unit simulator-tests integration molecule sanity lint ee-context clean

setup: $(STAMP) $(COLLECTION_LINK)

$(STAMP): requirements-dev.txt simulator/pyproject.toml
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet -e simulator
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

demo: setup
	$(BIN)/python tools/with_lab.py simulator/labs/three-standalone.yml -- \
		$(BIN)/ansible-playbook playbooks/demo.yml

test: setup
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory simulator-tests
	$(MAKE) --no-print-directory integration
	$(MAKE) --no-print-directory molecule
	$(MAKE) --no-print-directory sanity
	$(MAKE) --no-print-directory lint
	@echo "make test: every step passed"

# pytest exits 5 when it collects no test: make treats that as the failure it is.
unit: setup
	$(BIN)/pytest -n $(PYTEST_WORKERS) tests/unit

simulator-tests: setup
	cd simulator && $(BIN)/pytest -n $(PYTEST_WORKERS) tests

# One worker per test file: each file starts its labs once.
integration: setup
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile tests/integration

molecule: setup
	@if compgen -G "extensions/molecule/*/molecule.yml" > /dev/null; then \
		$(BIN)/molecule test --all; \
	else \
		echo "molecule: no scenario under extensions/molecule yet: skipped"; \
	fi

# ansible-test needs the collection under .../ansible_collections/xenserver/pools: sanity runs in a
# copy of the collection's files (not simulator/, not build output). --local uses the tools pinned in
# requirements-dev.txt instead of downloading per-test virtualenvs, so it works offline.
sanity: setup
	rm -rf build/sanity
	mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard -- . ':!simulator' ':!tools' \
		| xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
		| tar --null -T - -cf - | tar -xf - -C $(SANITY_ROOT)
	# ansible-test bootstraps pip in its test venvs with a script from ci-files.testing.ansible.com:
	# give it a stand-in that uses ensurepip + PyPI instead (kept if one is already cached).
	mkdir -p $(HOME)/.ansible/test/cache
	test -e $(GET_PIP_CACHE) || cp tests/sanity/get_pip_standin.py $(GET_PIP_CACHE)
	# A repository of its own: ansible-test lists files with git, and build/ is ignored by ours.
	git -C $(SANITY_ROOT) init --quiet
	cd $(SANITY_ROOT) && $(BIN)/ansible-test sanity --local --python 3.11 --color no

lint: setup
	$(BIN)/ansible-lint
	$(BIN)/antsibull-docs lint-collection-docs --plugin-docs .
	$(BIN)/antsibull-changelog lint
	$(BIN)/python tests/sanity/check_action_group.py

# The build context of the execution environment for AWX / Automation Platform
# (extensions/awx/execution-environment.yml), offline: the collection built from the checkout, then
# ansible-builder create. Build the image with: podman build -t xenserver-pools-ee build/ee-context
ee-context: setup
	rm -rf build/ee-context build/ee-collection
	mkdir -p build/ee-collection
	$(BIN)/ansible-galaxy collection build --force --output-path build/ee-collection .
	cp build/ee-collection/xenserver-pools-*.tar.gz build/ee-collection/xenserver-pools.tar.gz
	$(BIN)/ansible-builder create --file extensions/awx/execution-environment.yml --context build/ee-context \
		--output-filename Containerfile
	@echo "ee-context: build/ee-context/Containerfile is ready (podman build -t xenserver-pools-ee build/ee-context)"

# make bench: the collection measured against its limits (issue 9) - XAPI calls per module,
# change-detection latency, pool_build and rolling_maintenance against their physical limits,
# Ansible's overhead, the simulator's own figures. Not part of make test; a few minutes on 2 cores.
# Writes bench/results.json and bench/RESULTS.md; exits non-zero when a target is missed.
# Options of bench/run.py through BENCH_ARGS, e.g. make bench BENCH_ARGS="--latency-ms 10".
BENCH_ARGS ?=
.PHONY: bench
bench: setup
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# make rehearse: run a playbook on a twin of a pool (a lab file written by `xapisim capture`) and
# print what it did, what was refused and the estimated maintenance window (README: "Rehearse
# before you touch production"). TWIN= the twin, PLAYBOOK= the playbook, EXTRA= its extra vars
# ('k=v k2=v2', JSON or @file.yml), SCALE= the twin's time_scale meanwhile (smaller is faster; the
# estimate is in real-world seconds whatever it is), REHEARSAL_DIR= where the playbook runs and
# rehearsal.json is written. Exits non-zero when the playbook fails.
TWIN ?=
PLAYBOOK ?= playbooks/rolling_maintenance.yml
EXTRA ?=
SCALE ?= 0.01
REHEARSAL_DIR ?= build/rehearsal
.PHONY: rehearse
rehearse: export REHEARSE_EXTRA = $(EXTRA)
rehearse: setup
	@test -n "$(TWIN)" || { echo "make rehearse: give the twin, e.g. make rehearse TWIN=twin.yml (see the README)" >&2; exit 2; }
	$(BIN)/python tools/rehearse.py --scale "$(SCALE)" --workdir "$(REHEARSAL_DIR)" --extra "$$REHEARSE_EXTRA" "$(TWIN)" "$(PLAYBOOK)"

clean:
	rm -rf build collections .ansible .pytest_cache
