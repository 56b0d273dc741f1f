# vitlab — the Makefile is the source of truth for every workflow (CI runs `make test`).
# A bare `make` lists the targets.

SHELL := /bin/bash
GO ?= go
# go-nvml's cgo prologue warns about NVML functions deprecated in CUDA 13; they are not called.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
export CGO_ENABLED := 1
# DuckDB's Arrow interface (queries/duck.QueryArrow: big answers handed to Go as Arrow record batches)
# is behind duckdb-go's duckdb_arrow build tag; every build and test here sets it. A plain `go test ./...`
# builds without it and skips the Arrow tests (duck.ArrowAvailable).
export GOFLAGS ?= -tags=duckdb_arrow

BIN       := bin/vitlab
# The notebooks' Python (pinned in notebooks/requirements.txt), made by `make venv`.
VENV      ?= .venv
PY        := $(VENV)/bin/python
WAREHOUSE ?= warehouse
SAMPLE    ?= data/sample
REPORT    ?= report
# Fuzz budget as a count of executions, not a duration: a duration races Go
# 1.26's fuzz coordinator at the deadline (golang/go#75804, fixed in Go 1.27)
# and fails with a bare 'context deadline exceeded' while a worker is still
# minimising an input (CI, 2026-12-02). Minimisation is bounded by count too.
FUZZTIME  ?= 3000x
FUZZMINIMIZE ?= 20x
# Bench size: exports in the synthetic batch (fixtures replicated).
BENCH_EXPORTS ?= 224

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@echo "vitlab — make targets:"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-14s %s\n", $$1, $$2}'
	@echo
	@echo "First time: 'make run' (ingest the shipped sample, run every saved query, write the report), 'make test'."

.PHONY: deps
deps: ## install what the build and tests need (Go modules for this platform; python3 via apt-get if missing)
	@command -v python3 >/dev/null || { echo "installing python3 (apt-get)"; (apt-get update -qq && apt-get install -y -qq python3) >/dev/null; }
	@/usr/bin/python3 -c 'import nbformat' 2>/dev/null || python3 -c 'import nbformat' 2>/dev/null || { echo "installing python3-nbformat for the notebook check (apt-get; best effort)"; (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-nbformat) >/dev/null 2>&1 || echo "python3-nbformat not installed: notebooks are checked against the format-4 shape only"; }
	@command -v chromium >/dev/null || { echo "installing chromium for the report browser test (apt-get; best effort)"; (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || echo "chromium not installed: the browser test will skip"; }
	@{ command -v slurmctld >/dev/null || test -x /usr/sbin/slurmctld; } && test -x /usr/sbin/munged || { echo "installing slurm-wlm and munge for the real-Slurm test (apt-get; best effort)"; (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge) >/dev/null 2>&1 || echo "slurm-wlm not installed: the real-Slurm test will skip"; }
	$(GO) build ./... >/dev/null

.PHONY: build
build: ## build bin/vitlab
	@test -x $(BIN) || echo "building $(BIN): the first build compiles DuckDB's C++ library into it, which takes about 5-6 minutes (1.3 GB of memory, 2 cores); later builds take seconds"
	$(GO) build -o $(BIN) ./cmd/vitlab

.PHONY: run
run: build ## ingest the shipped sample batch, run every saved query, write the report
	@set -e; for b in $(SAMPLE)/*/batch.json; do $(BIN) ingest --warehouse $(WAREHOUSE) "$$(dirname "$$b")"; done
	$(BIN) report --warehouse $(WAREHOUSE) --out $(REPORT)
	@echo "open $(abspath $(REPORT))/index.html (also report.md, queries/*.csv, findings/*.parquet beside it)"

# The campaign: the standard profiles of every plan, shipped under
# data/campaign-<card>/ as batch directories (CAMPAIGN=DIR picks one). A
# campaign collected over several sessions may ship a batch still being
# resumed: it is ingested with the runs it has (--allow-incomplete; the
# report's provenance says which batches are unfinished: finished = 'no: incomplete').
CAMPAIGN ?= $(firstword $(wildcard data/campaign-*))
.PHONY: report-campaign
report-campaign: build ## ingest the shipped campaign (data/campaign-*, or CAMPAIGN=DIR) into warehouse-campaign/ and write report-campaign/ and its claims
	@test -n "$(CAMPAIGN)" || { echo "no campaign in this repository: data/campaign-*/ does not exist (collect one with the standard profiles: collectors/plans/README.md)"; exit 1; }
	@failed=0; for b in $(CAMPAIGN)/*/batch.json; do $(BIN) ingest --allow-incomplete --warehouse warehouse-campaign "$$(dirname "$$b")" || failed=1; done; \
	if [ $$failed = 1 ]; then echo "report-campaign: some runs did not load (above); the report covers what landed"; fi
	$(BIN) report --warehouse warehouse-campaign --out report-campaign
	$(BIN) query claims --warehouse warehouse-campaign --format csv > report-campaign/claims.csv
	@echo "open $(abspath report-campaign)/index.html (claims: report-campaign/claims.csv)"

.PHONY: test
test: deps ## run every test (Go, Python workload, the notebooks and the independent-DuckDB check, a short fuzz run)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	python3 -m unittest discover -s collectors/workload -p 'test_*.py'
	python3 -m py_compile collectors/workload/*.py
	$(MAKE) --no-print-directory test-notebooks
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)
	$(MAKE) --no-print-directory test-slurm

.PHONY: test-slurm
test-slurm: ## start a one-node Slurm cluster on loopback (root; slurm-wlm + munge) and run a batch through it: job array, afterany finaliser, a cancelled task, resubmit, ingest (~1 min)
	VITLAB_SLURM=1 $(GO) test -count=1 -timeout 5m -run '^TestRealSlurm$$' -v ./collectors/slurm

$(VENV)/.installed: notebooks/requirements.txt
	@command -v python3 >/dev/null || { echo "installing python3 (apt-get)"; (apt-get update -qq && apt-get install -y -qq python3) >/dev/null; }
	@python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || { echo "installing python3-venv (apt-get)"; (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv) >/dev/null; }
	@echo "making $(VENV) with notebooks/requirements.txt (pandas, pyarrow, polars, duckdb, matplotlib, nbclient, ipykernel; about 1 minute)"
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r notebooks/requirements.txt
	@touch $@

.PHONY: venv
venv: $(VENV)/.installed ## make .venv with the notebooks' pinned Python packages

.PHONY: notebooks
notebooks: venv ## execute every notebook top to bottom against the sample (runs `make run` first when there is no report); SAVE_FIGURES=1 rewrites notebooks/figures/
	@test -f $(WAREHOUSE)/_manifest.json -a -d $(REPORT)/findings || $(MAKE) --no-print-directory run
	VITLAB_WAREHOUSE=$(abspath $(WAREHOUSE)) VITLAB_REPORT=$(abspath $(REPORT)) VITLAB_BIN=$(abspath $(BIN)) VITLAB_SAVE_FIGURES=$(SAVE_FIGURES) $(PY) notebooks/execute.py

.PHONY: test-notebooks
test-notebooks: venv run ## the notebooks against a fresh sample report, every saved query through Python's duckdb against vitlab query, pyarrow and polars reading every table
	@$(PY) notebooks/check_notebooks.py >/dev/null || $(PY) notebooks/check_notebooks.py
	VITLAB_WAREHOUSE=$(abspath $(WAREHOUSE)) VITLAB_REPORT=$(abspath $(REPORT)) VITLAB_BIN=$(abspath $(BIN)) $(PY) notebooks/execute.py
	VITLAB_WAREHOUSE=$(abspath $(WAREHOUSE)) VITLAB_BIN=$(abspath $(BIN)) $(PY) -m unittest discover -v -s notebooks -p 'test_*.py'

.PHONY: fuzz
fuzz: ## fuzz the export reader (FUZZTIME=3000x executions; longer by hand, e.g. FUZZTIME=200000x)
	$(GO) test -run '^$$' -fuzz '^FuzzExport$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./etl/normalize

.PHONY: bench
bench: build bench-ingest bench-queries ## ingest benchmark (vs sqlite3, pandas) and query benchmark

# Query bench: every saved query's median time in one process on the sample
# warehouse (target 100 ms) and on the sample ingested REPLICATE times under
# distinct batch ids (target 2 s).
REPLICATE ?= 100
BENCH_DIR ?= /tmp/vitlab-bench-queries

.PHONY: bench-queries
bench-queries: build ## query benchmark: each saved query's median time on the sample and on the sample ×REPLICATE (a table)
	rm -rf $(BENCH_DIR) && mkdir -p $(BENCH_DIR)
	@set -e; for b in $(SAMPLE)/*/batch.json; do $(BIN) ingest --warehouse $(BENCH_DIR)/x1 "$$(dirname "$$b")" >/dev/null; done
	$(GO) run ./cmd/querybench --warehouse $(BENCH_DIR)/x1 --runs 5 --target 100ms
	$(GO) run ./cmd/querybench --warehouse $(BENCH_DIR)/x$(REPLICATE) --replicate $(REPLICATE) --sample $(SAMPLE) --vitlab $(BIN) --runs 3 --target 2s
	rm -rf $(BENCH_DIR)

.PHONY: bench-ingest
bench-ingest: build ## ingest benchmark vs the sqlite3 CLI scan (events/s, peak RSS, ratios)
	@command -v sqlite3 >/dev/null || { echo "installing sqlite3 (apt-get)"; (apt-get update -qq && apt-get install -y -qq sqlite3) >/dev/null; }
	@/usr/bin/python3 -c 'import pandas' 2>/dev/null || python3 -c 'import pandas' 2>/dev/null || { echo "installing python3-pandas for the pandas reference (apt-get; best effort)"; (apt-get update -qq && apt-get install -y -qq python3-pandas) >/dev/null 2>&1 || true; }
	$(GO) run ./cmd/ingestbench --vitlab $(BIN) --exports $(BENCH_EXPORTS)

# Scale bench: warehouses of SCALES copies of the sample (new batch and run
# ids, perturbed exports), built cumulatively; ingest, derive, every saved
# query and the report timed per size (docs/performance.md).
SCALES ?= 1,10,100
SCALE_DIR ?= /tmp/vitlab-bench-scale

.PHONY: bench-scale
bench-scale: build ## scale benchmark: the sample ×1, ×10, ×100 (SCALES=…): ingest, derive, peak RSS, bytes/event, every saved query per process
	@command -v sqlite3 >/dev/null || { echo "installing sqlite3 (apt-get)"; (apt-get update -qq && apt-get install -y -qq sqlite3) >/dev/null; }
	$(GO) run ./cmd/scalebench --vitlab $(BIN) --sample $(SAMPLE) --scales $(SCALES) --dir $(SCALE_DIR)
	rm -rf $(SCALE_DIR)

# Collector cost, on a GPU host: collect one plan's profile twice, side by
# side on the same card — executed (python3 per phase, as before) and with
# --warm-start — and print each batch's runs per GPU-hour, where a run's wall
# time goes (cmd/collectbench), and the ratio warm / executed. BEFORE=DIR
# puts an earlier batch of the same plan, profile and card first (the ratio
# is then against it).
PLAN ?= rq1
COLLECT_PROFILE ?= quick
COLLECT_DIR ?= /tmp/vitlab-bench-collect
NSYS ?= nsys
COLLECT_FLAGS ?=
.PHONY: bench-collect
bench-collect: build ## collector cost on a GPU host: PLAN's COLLECT_PROFILE executed and --warm-start, runs per GPU-hour and the ratio
	@command -v nvidia-smi >/dev/null || { echo "bench-collect needs a GPU host (nvidia-smi not found)"; exit 1; }
	id=$(PLAN)-$(COLLECT_PROFILE)-$$(date -u +%Y%m%dT%H%M%S); \
	$(BIN) collect --plan collectors/plans/$(PLAN).yaml --profile $(COLLECT_PROFILE) --out $(COLLECT_DIR) --batch $$id-executed --nsys $(NSYS) $(COLLECT_FLAGS) && \
	$(BIN) collect --plan collectors/plans/$(PLAN).yaml --profile $(COLLECT_PROFILE) --out $(COLLECT_DIR) --batch $$id-warm --nsys $(NSYS) --warm-start $(COLLECT_FLAGS) && \
	$(GO) run ./cmd/collectbench $(BEFORE) $(COLLECT_DIR)/$$id-executed $(COLLECT_DIR)/$$id-warm

.PHONY: schemas
schemas: ## regenerate schemas/SCHEMA.md and the golden schema files (review the diff)
	$(GO) test ./schemas -run TestGolden -rewrite

.PHONY: rewrite
rewrite: ## regenerate every golden/data-driven test file (review the diff)
	$(GO) test $$(grep -rl --include='*_test.go' 'flag.Bool("rewrite"' . | xargs -n1 dirname | sort -u) -rewrite
	@git status --short

.PHONY: collector
collector: ## build vitlab for the GPU host into .gpu-bin/ (linux/amd64, cgo for NVML; without DuckDB, so it stays small to carry)
	GOOS=linux GOARCH=amd64 $(GO) build -tags noduckdb -trimpath -ldflags="-s -w" -o .gpu-bin/vitlab ./cmd/vitlab

.PHONY: clean
clean: ## remove build outputs, the local warehouse and report (.venv stays: rm -rf .venv)
	rm -rf bin .gpu-bin $(WAREHOUSE) $(REPORT)
