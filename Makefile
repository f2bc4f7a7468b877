# The verbs people type. `make` alone prints them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LIFECYCLE := $(BIN)/lifecycle
DATA ?= data/synthetic
# Namespace of the registered models, MLflow experiments and champion (README: projects).
PROJECT ?= $(notdir $(DATA))
CUSTOMERS ?= 20000
SEED ?= 0
CONFIG ?= experiments/btyd-features.yaml
TRIALS ?= 20
TUNE_CONFIG ?= experiments/btyd-features.yaml
AS_OF ?=
OUT ?= data/scores.parquet
KIND ?= train
DATA_OUT ?= data/cdnow
CDNOW ?= $(firstword $(wildcard ../shared/data/cdnow/CDNOW_master.txt) tests/data/cdnow/CDNOW_master.txt)
HOST ?= 127.0.0.1
PORT ?= 3000
NAME ?= baseline
NAMES ?=
SPARK_CUSTOMERS ?= 1000000
# Rows of each export of bench-payments (1000000 or 3000000 for the scale runs).
PAYMENTS_ROWS ?= 100000
# Test workers (pytest-xdist): a file's tests stay together on one worker, in order, sharing its
# module fixtures; TEST_WORKERS= runs them in one process.
TEST_WORKERS ?= -n 2 --dist loadfile
# tune, backtest and bench-* write into reports/results/ (git-ignored); UPDATE_RESULTS=1 writes the
# tracked files instead (experiments/tuned.yaml, bench/results/*.json, quoted in docs/results.md).
UPDATE_RESULTS ?=
RESULTS := $(if $(filter 1,$(UPDATE_RESULTS)),bench/results,reports/results)
TUNED := $(if $(filter 1,$(UPDATE_RESULTS)),experiments/tuned.yaml,reports/results/tuned.yaml)
export MPLBACKEND := Agg

.PHONY: help install run test test-fast lint check ingest-cdnow generate train tune backtest \
        score monitor retrain serve experiment compare ui optuna-dashboard bench bench-features bench-ingest bench-payments bench-serve bench-contention bench-load bench-spark bench-reload clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	@touch $@

install: $(BIN)/.installed ## Create .venv and install the pinned dependencies

run: install ## End to end on synthetic data: generate -> features -> train -> register -> score
	$(LIFECYCLE) generate --customers $(CUSTOMERS) --seed $(SEED) --out $(DATA)
	$(LIFECYCLE) features --data $(DATA) --cutoff 2025-10-01 --horizon-days 90 --out $(DATA)/features.parquet
	$(LIFECYCLE) train --config experiments/btyd-features.yaml --data $(DATA) --project $(PROJECT)
	$(LIFECYCLE) score --data $(DATA) --project $(PROJECT) --out $(OUT) --csv

test: install ## Run the whole test suite, slow tests included (what CI runs), on 2 workers
	$(BIN)/python -m pytest -q $(TEST_WORKERS)

test-fast: install ## The tests without the slow (servers, subprocesses, CDNOW) and Spark ones
	$(BIN)/python -m pytest -q $(TEST_WORKERS) -m "not slow and not spark"

lint: install ## Fix style issues with ruff
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

check: install ## Check format, lint rules and types without fixing (CI; .pre-commit-config.yaml)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

ingest-cdnow: install ## Ingest CDNOW into DATA_OUT (default data/cdnow)
	$(LIFECYCLE) ingest --transactions $(CDNOW) --out $(DATA_OUT) \
	  --map "customer_id=customer_id,ordered_at=date,amount=dollar_value,quantity=number_of_cds"

generate: install ## Generate synthetic data: CUSTOMERS=20000 SEED=0 DATA=data/synthetic
	$(LIFECYCLE) generate --customers $(CUSTOMERS) --seed $(SEED) --out $(DATA)

train: install ## Train and register churn + CLV models: CONFIG=experiments/btyd-features.yaml DATA=...
	$(LIFECYCLE) train --config $(CONFIG) --data $(DATA) --project $(PROJECT)

tune: install ## Optuna study (resumable, optuna.db) -> reports/results/tuned.yaml [UPDATE_RESULTS=1: experiments/]
	$(LIFECYCLE) tune --config $(TUNE_CONFIG) --data $(DATA) --trials $(TRIALS) --out $(TUNED)

backtest: install ## CDNOW backtest at 1997-10-01, 273 days -> reports/results/backtest_cdnow.json [UPDATE_RESULTS=1]
	@test -f $(DATA_OUT)/transactions.parquet || $(MAKE) ingest-cdnow
	$(LIFECYCLE) backtest --data $(DATA_OUT) --cutoff 1997-10-01 --horizon-days 273 \
	  --config experiments/cdnow.yaml --dataset cdnow --out $(RESULTS)/backtest_cdnow.json

score: install ## Score every customer with the champions: DATA=... OUT=data/scores.parquet [AS_OF=YYYY-MM-DD]
	$(LIFECYCLE) score --data $(DATA) --project $(PROJECT) --out $(OUT) --csv $(if $(AS_OF),--as-of $(AS_OF),)

monitor: install ## Drift and matured-label check of the champion: DATA=... [AS_OF=YYYY-MM-DD]; exit 3 on alert
	$(LIFECYCLE) monitor --data $(DATA) --project $(PROJECT) --out reports/monitor $(if $(AS_OF),--as-of $(AS_OF),)

retrain: install ## Train -> gate -> score -> monitor as one locked, resumable job: DATA=... [CONFIG=...]
	$(LIFECYCLE) retrain --data $(DATA) --project $(PROJECT) --config $(CONFIG) --out reports/monitor

serve: install ## Scoring service (BentoML): LIFECYCLE_API_KEY=... [HOST=127.0.0.1 PORT=3000 OUT=data/scores.parquet]
	LIFECYCLE_SNAPSHOT=$${LIFECYCLE_SNAPSHOT:-$(basename $(OUT)).snapshot.parquet} BENTOML_DO_NOT_TRACK=True \
	  LIFECYCLE_PROJECT=$${LIFECYCLE_PROJECT:-$(PROJECT)} \
	  $(BIN)/bentoml serve serving.service:LifecycleService --host $(HOST) --port $(PORT)

experiment: install ## Run one experiment as an MLflow run: NAME=engagement [DATA=...; default: the YAML's data]
	$(LIFECYCLE) experiment run $(NAME) $(if $(filter-out file,$(origin DATA)),--data $(DATA))

compare: install ## Latest runs side by side -> reports/compare.html [NAMES="baseline engagement" KIND=train|backtest]
	$(LIFECYCLE) compare $(NAMES) --project $(PROJECT) --kind $(KIND) --out reports/compare.html

ui: install ## MLflow UI on the local store (127.0.0.1:5000)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

optuna-dashboard: install ## Optuna dashboard of the tuning studies (127.0.0.1:8080)
	$(BIN)/optuna-dashboard sqlite:///optuna.db --host 127.0.0.1 --port 8080

bench-features: install ## Feature build vs a plain DuckDB scan -> reports/results/features.json [UPDATE_RESULTS=1]
	$(BIN)/python bench/bench_features.py --out $(RESULTS)/features.json

bench-ingest: install ## Ingest of 1M-row exports (ISO, dd/mm/yyyy, a 200k-row workbook) vs reading the CSV -> reports/results/ingest.json (~3 min) [UPDATE_RESULTS=1]
	$(BIN)/python bench/bench_ingest.py --out $(RESULTS)/ingest.json

bench-payments: install ## Ingest of Stripe and PayPal exports vs a plain orders export of PAYMENTS_ROWS=100000 rows -> reports/results/payments.json (~1 min) [UPDATE_RESULTS=1]
	$(BIN)/python bench/bench_payments.py --rows $(PAYMENTS_ROWS) --out $(RESULTS)/payments.json

bench-serve: install ## Service vs in-process scoring -> reports/results/serve.json (~8 min) [UPDATE_RESULTS=1]
	$(BIN)/python bench/bench_serve.py --out $(RESULTS)/serve.json

bench-load: install ## Load harness: 60 s scenarios at c=8/32, 10-min soak, restart -> reports/results/load.json (~20 min) [UPDATE_RESULTS=1]
	$(BIN)/python bench/bench_load.py --out $(RESULTS)/load.json $(if $(LOAD_ARGS),$(LOAD_ARGS),)

bench-spark: install ## DuckDB vs Spark local[2]: features 1/12 cutoffs, batch scoring -> reports/results/spark.json [SPARK_CUSTOMERS=1000000 UPDATE_RESULTS=1]
	$(BIN)/python bench/bench_spark.py --customers $(SPARK_CUSTOMERS) --out $(RESULTS)/spark.json $(SPARK_BENCH_ARGS)

bench-reload: install ## Service hot reload of a newer scoring at 20,000 customers: time, RSS, latency -> reports/results/reload.json (~3 min) [UPDATE_RESULTS=1]
	$(BIN)/python bench/bench_reload.py --out $(RESULTS)/reload.json

bench-contention: install ## A LightGBM fit quiet vs beside a busy core, OpenMP threads sleeping vs spinning -> reports/results/contention.json (~3 min) [UPDATE_RESULTS=1]
	$(BIN)/python bench/bench_contention.py --out $(RESULTS)/contention.json

bench: bench-features bench-ingest bench-payments bench-serve bench-contention ## All benchmarks

clean: ## Remove generated data, MLflow store and caches (keeps .venv)
	rm -rf data mlflow.db optuna.db reports .pytest_cache
	find mlruns -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
