# Two entry points (see README): `make book` builds the book, `make test` runs every test.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Override to choose a torch build, e.g. TORCH_SPEC='torch==2.13.0' (a CPU wheel).
TORCH_SPEC ?= torch>=2.1

.PHONY: setup book test bench clean
setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -e .
	touch $@

book: setup
	$(BIN)/jupyter-book build --all -W -n --keep-going .

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/mlp.py

clean:
	rm -rf _build
