# hotline: the two commands of the README, and what they need.
#   make demo   set everything up, then start the appliance on the simulated board and call it
#   make test   set everything up, then run the whole test suite
# Both install Debian packages first when they are missing (as root, or through sudo).

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# libspandsp2: SpanDSP, loaded only by tests and benchmarks as a comparison peer.
# asterisk-*-wav: real recorded speech and music for the talk-off tests.
# systemd: systemd-analyze, -sysusers, -tmpfiles check the shipped units.
APT_PACKAGES := libspandsp2 asterisk-core-sounds-en-wav asterisk-moh-opsound-wav systemd

.PHONY: demo test bench system-packages clean

demo: $(VENV)/.installed
	$(VENV_PYTHON) -m hotline.daemon.demo

test: $(VENV)/.installed
	$(VENV_PYTHON) -m pytest -n auto

bench: $(VENV)/.installed
	$(VENV_PYTHON) bench/dsp_bench.py

system-packages:
	@missing="$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done)"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$(echo $$missing)" ]; then \
	    echo "installing Debian packages:" $$missing; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: setup.cfg pyproject.toml | system-packages
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install -q --upgrade pip
	$(VENV_PYTHON) -m pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
