# Every target creates .venv and installs the project first, so each one
# works on a fresh clone and is safe to run again.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# terraform needs the hashicorp/aws provider; with no network it comes from
# an offline mirror, found here and handed on through this variable.
MIRROR = QUOTAFORM_TF_PLUGIN_MIRROR="$$(sh tools/find-provider-mirror.sh)"

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(MIRROR) $(BIN)/quotaform demo

test: $(STAMP)
	$(MIRROR) $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info cdktf.out .pytest_cache
