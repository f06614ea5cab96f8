# Two commands set up and run everything on a fresh machine: `make demo` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
TORCH   ?= torch==2.13.0
BIN      = $(VENV)/bin
CORES   ?= 2
SYSTEM_PACKAGES = fluidsynth libfluidsynth3 timgm6mb-soundfont
TEST_PACKAGES   = chromium chromium-driver

.PHONY: install system-deps test-deps demo mini test lint clean-results

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"  # pinned first: an unpinned torch pulls a CUDA build
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
	@echo; cat results/tables/genre_fusion.md

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

test: install test-deps lint
	$(BIN)/pytest -q --durations=15

clean-results:
	rm -rf results logs .snakemake
