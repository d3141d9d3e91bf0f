# Transactive: `make demo` runs the main job, `make test` runs the whole test suite,
# `make study` a paper's case study (STUDY=alashery-2021, martinez-trejo-2022, rahmani-negawatt, jing-2021 or
# day-strategies, STUDY_ARGS="--set calibration=text"; report in study-reports/STUDY/index.html).
# Both set themselves up (a virtual environment in .venv with every dependency) the first time.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PROFILES_STAMP := $(VENV)/.profiles-stamp
BATCH_STAMP := $(VENV)/.secp256k1-batch-stamp

.PHONY: demo study test lint unit system bench clean

STUDY ?= alashery-2021
STUDY_ARGS ?=

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]'
	@touch $(STAMP)

# SimBench's profiles for the demo's simulated day (optional: without them the day uses synthetic profiles)
$(PROFILES_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[profiles]' || echo "simbench not installed: the simulated day uses synthetic profiles"
	@touch $(PROFILES_STAMP)

# the batch signature verifier (C, against the pinned libsecp256k1 sources of the npm package secp256k1;
# without npm or gcc the signatures are verified by recovery alone, with the same results)
$(BATCH_STAMP): $(STAMP) src/transactive/crypto/_secp256k1_batch.c scripts/setup-secp256k1-batch.sh
	@bash scripts/setup-secp256k1-batch.sh $(PY) >/dev/null && touch $(BATCH_STAMP) \
	  || echo "batch signature verifier not built: signatures are verified by recovery alone"

demo: $(STAMP) $(PROFILES_STAMP) $(BATCH_STAMP)
	$(VENV)/bin/transactive demo

study: $(STAMP) $(PROFILES_STAMP) $(BATCH_STAMP)
	$(VENV)/bin/transactive study $(STUDY) --out study-reports/$(STUDY) $(STUDY_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

system: $(STAMP)
	@bash scripts/setup-system.sh

unit: $(STAMP) $(BATCH_STAMP) system
	$(PY) -m pytest -q -n 2

test: lint unit

bench: $(STAMP) $(BATCH_STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .secp256k1 src/transactive/crypto/_secp256k1_batch*.so
