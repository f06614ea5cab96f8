# Two commands set up and run everything on a fresh machine: `make demo` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
TORCH   ?= torch==2.13.0
# A wheel index for torch, e.g. https://download.pytorch.org/whl/cu128 (CUDA 12.8) or
# .../whl/cpu (CPU only); empty = PyPI (on Linux x86-64 a CUDA build).
TORCH_INDEX ?=
BIN      = $(VENV)/bin
CORES   ?= 2
SYSTEM_PACKAGES = fluidsynth libfluidsynth3 timgm6mb-soundfont
TEST_PACKAGES   = chromium chromium-driver

.PHONY: install system-deps test-deps demo mini test lint docs clean-results

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))  # pinned first
	$(BIN)/pip install -q -e ".[workflow,dev]"
	touch $@

install: $(VENV)/.installed system-deps

# FluidSynth + the TimGM6mb soundfont render the offline data (Debian packages, as root).
system-deps:
	@if [ -f /usr/share/sounds/sf2/TimGM6mb.sf2 ] && ldconfig -p | grep -q libfluidsynth; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); \
	else echo "please install: sudo apt-get install $(SYSTEM_PACKAGES)"; exit 1; fi

# Headless Chromium checks the HTML report in the tests (SLURM is set up by tests/slurm/up.sh).
test-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEST_PACKAGES); \
	else echo "please install: sudo apt-get install $(TEST_PACKAGES)"; exit 1; fi

demo: install
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml
	@echo; cat results/demo/tables/genre_fusion.md

# Train the mini-* models from nothing (about an hour on 2 cores) and install them as built-ins.
mini: install
	$(BIN)/snakemake --cores $(CORES) mini_models
	$(BIN)/python -m musicsteer.mini.release resources/mini/models

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src
	$(BIN)/snakefmt --check workflow
	$(BIN)/snakemake --lint
	$(BIN)/snakemake --lint --configfile config/demo.yaml
	$(BIN)/snakemake --lint --configfile config/demo.yaml tests/configs/wiring.yaml tests/configs/sharp.yaml

# API pages from the docstrings (pdoc) in docs/api/index.html.
API_MODULES = activations steering probing evaluation models corpora render report tasks config cli audio storage
docs: install
	$(BIN)/pdoc $(addprefix musicsteer.,$(API_MODULES)) --docformat google -o docs/api
	@echo "API docs: docs/api/index.html"

test: install test-deps lint docs
	$(BIN)/pytest -q --durations=15

clean-results:
	rm -rf results logs .snakemake
