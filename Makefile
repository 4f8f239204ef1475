# article-ingest — every set-up step is here; `make demo` and `make test` need nothing installed by hand.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO        ?= cargo
TOOLS_DIR    ?= $(CURDIR)/.tools
# Tansu takes 10–17 minutes to build: it is cached outside the work tree so clones share it.
TANSU_VERSION := 0.6.0
TANSU_ROOT   ?= $(HOME)/.cache/article-ingest/tansu-$(TANSU_VERSION)
TANSU_BIN    := $(TANSU_ROOT)/bin/tansu
VENV         := $(TOOLS_DIR)/venv
KAFKA_PYTHON := $(VENV)/bin/python
EVAL_VENV    := $(TOOLS_DIR)/eval-venv
EVAL_PYTHON  := $(EVAL_VENV)/bin/python
CARGO_FUZZ   := $(TOOLS_DIR)/cargo-fuzz/bin/cargo-fuzz
# make fuzz FUZZ_SECONDS=60
FUZZ_SECONDS ?= 600
# Validators for deploy/: Compose 1.29 needs jsonschema < 4, kubernetes-validate >= 4, so two venvs.
COMPOSE_VENV := $(TOOLS_DIR)/compose-venv
DEPLOY_VENV  := $(TOOLS_DIR)/deploy-venv
SHARED       ?= $(CURDIR)/../shared
# make bench N=1000000; make bench BENCH_ARGS=--without-dedup (what deduplication costs);
# BENCH_ARGS=--without-ceiling skips the COPY ceiling (a long run compared by rate with a shorter one).
# The bench runs its own Postgres (scripts/bench-postgres.sh: deploy/postgres/article-ingest.conf's
# settings); BENCH_DATABASE_URL=postgres://… measures another server instead.
N            ?= 100000
BENCH_ARGS   ?=
BENCH_DATABASE_URL ?=
CORPUS       := $(SHARED)/corpus/wcxb-dev

export TANSU_BIN KAFKA_PYTHON

.PHONY: help build test fuzz deploy-check bench bench-stages lint demo eval-clean eval-dedup eval-meta gazetteer train-cleaner tansu venv eval-venv postgres clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

build: ## build the binary
	$(CARGO) build --locked

test: tansu venv deploy-check ## every test: units, Postgres, mock cluster, end to end on Tansu with kafka-python; benches once
	DATABASE_URL="$$(scripts/ensure-postgres.sh)" $(CARGO) test --locked --features e2e --all-targets

fuzz: $(CARGO_FUZZ) ## libFuzzer on the decoder, the text cleaner and the HTML path, FUZZ_SECONDS each (default 600)
	# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP lets the one stable toolchain accept them.
	for target in decode clean_text html; do \
		mkdir -p tests/fuzz/corpus/$$target && \
		RUSTC_BOOTSTRAP=1 $(CARGO_FUZZ) run --fuzz-dir tests/fuzz $$target tests/fuzz/corpus/$$target tests/fixtures/articles \
			-- -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096 || exit 1; \
	done

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --version 0.13.2 --locked --root $(TOOLS_DIR)/cargo-fuzz

deploy-check: $(COMPOSE_VENV)/bin/docker-compose $(DEPLOY_VENV)/bin/kubernetes-validate ## validate deploy/ offline: compose config, Kubernetes schemas, hadolint, systemd-analyze
	POSTGRES_PASSWORD=validation-only $(COMPOSE_VENV)/bin/docker-compose -f deploy/compose/docker-compose.yml config --quiet
	$(DEPLOY_VENV)/bin/kubernetes-validate --strict --kubernetes-version 1.31.0 deploy/kubernetes/*.yaml
	$(DEPLOY_VENV)/bin/hadolint deploy/Dockerfile
	deploy/check/systemd-unit.sh

$(COMPOSE_VENV)/bin/docker-compose: deploy/check/compose-requirements.txt
	python3 -m venv $(COMPOSE_VENV)
	$(COMPOSE_VENV)/bin/pip install --quiet -r deploy/check/compose-requirements.txt
	touch $@

$(DEPLOY_VENV)/bin/kubernetes-validate: deploy/check/requirements.txt
	python3 -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/pip install --quiet -r deploy/check/requirements.txt
	touch $@

bench: tansu ## end to end: N articles (default 100000) through Tansu, the worker and Postgres, beside a COPY ceiling
	scripts/ensure-postgres.sh >/dev/null # installs the server binaries when missing
	if [ -n "$(BENCH_DATABASE_URL)" ]; then url="$(BENCH_DATABASE_URL)"; else url="$$(scripts/bench-postgres.sh start)"; fi && \
	DATABASE_URL="$$url" $(CARGO) bench --locked --bench e2e -- --articles $(N) --corpus $(CORPUS) $(BENCH_ARGS); \
	status=$$?; [ -n "$(BENCH_DATABASE_URL)" ] || scripts/bench-postgres.sh stop; exit $$status

bench-stages: ## criterion benches of the stages (wcxb-dev when present)
	$(CARGO) bench --locked --bench stages

lint: ## formatting and clippy, warnings as errors
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets --features e2e -- -D warnings

demo: build ## produce the sample articles to an embedded broker and land them in Postgres (BROKER=tansu for the real one)
	@if [ "$${BROKER:-mock}" = tansu ]; then $(MAKE) --no-print-directory tansu; fi
	scripts/demo.sh

eval-clean: eval-venv ## score the cleaner on ../shared/corpus/wcxb-dev beside trafilatura; check the seeds
	$(CARGO) build --release --locked --bin article-ingest
	mkdir -p target/eval
	$(EVAL_PYTHON) scripts/eval/eval_clean.py --corpus $(CORPUS) --binary target/release/article-ingest --json target/eval/clean.json
	$(CARGO) test --locked --test samples -- --nocapture shared_seeds

eval-dedup: eval-venv ## near-duplicate pair precision/recall/F1 on republished wcxb-dev bodies and the seeds, beside datasketch
	$(CARGO) build --release --locked --bin article-ingest
	mkdir -p target/eval
	$(EVAL_PYTHON) scripts/eval/eval_dedup.py --corpus $(CORPUS) --seeds $(SHARED)/seeds --binary target/release/article-ingest --json target/eval/dedup.json

eval-meta: eval-venv ## title/date/author accuracy on wcxb-dev from HTML and from text, beside trafilatura's metadata
	$(CARGO) build --release --locked --bin article-ingest
	mkdir -p target/eval
	$(EVAL_PYTHON) scripts/eval/eval_meta.py --corpus $(CORPUS) --binary target/release/article-ingest --json target/eval/meta.json

gazetteer: eval-venv ## regenerate the place names the metadata stage knows (src/stages/metadata/places.tsv) from GeoNames
	$(EVAL_PYTHON) scripts/gazetteer/generate_places.py --output src/stages/metadata/places.tsv

train-cleaner: eval-venv ## retrain the cleaner's line classifier on wcxb-dev (rewrites src/stages/clean/model.json)
	$(CARGO) build --release --locked --bin clean-features
	$(EVAL_PYTHON) scripts/train_cleaner.py --corpus $(CORPUS) --binary target/release/clean-features

tansu: $(TANSU_BIN) ## build the Tansu broker (once; cached)

$(TANSU_BIN):
	$(CARGO) install tansu --version $(TANSU_VERSION) --locked --features dynostore --root $(TANSU_ROOT)

venv: $(KAFKA_PYTHON) ## kafka-python in a git-ignored virtualenv

$(KAFKA_PYTHON): tests/support/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r tests/support/requirements.txt
	touch $(KAFKA_PYTHON)

eval-venv: $(EVAL_PYTHON) ## trafilatura, scikit-learn and datasketch in a git-ignored virtualenv

$(EVAL_PYTHON): scripts/eval/requirements.txt
	python3 -m venv $(EVAL_VENV)
	$(EVAL_VENV)/bin/pip install --quiet -r scripts/eval/requirements.txt
	touch $(EVAL_PYTHON)

postgres: ## print the URL of a Postgres that answers, starting one when none does
	@scripts/ensure-postgres.sh

clean: ## remove build output and the tools folder (the Tansu cache stays)
	$(CARGO) clean
	rm -rf $(TOOLS_DIR)
