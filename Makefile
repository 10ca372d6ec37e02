# tracemesh. `make help` lists the targets; `make run` and `make test` are the two a newcomer needs.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two layers, each with its stamp, each installed once and again whenever its lock files change: the run set
# (requirements.lock: the services; requirements-run.lock: make run's process manager and waterfall), which
# `make run` needs alone, and the development set (requirements-dev.lock: tests, linters, load, benchmark,
# docs checker, deployment validators) that every other target adds on top. The run layer also installs this
# project editable, again when pyproject.toml or the set of packages changes (an editable install maps each
# top-level package when it is made). tools/ is never installed: `python -m tools.<name>` runs it from the
# repository root, where make runs its recipes.
RUN_INSTALLED := $(VENV)/.installed-run
DEV_INSTALLED := $(VENV)/.installed-dev
PIP_INSTALL := $(BIN)/pip install --quiet --disable-pip-version-check
PACKAGES := $(wildcard services/*/__init__.py examples/*/__init__.py)
LOAD_HOST ?= http://127.0.0.1:8080
# Go programs built from source by `make gotools` (from the Go module proxy, once; reused until gotools/
# changes): Jaeger, which the Go module proxy serves as v1.75.0 (gotools/jaeger/go.mod), two gRPC clients, and
# vegeta, the benchmark's constant-rate load generator.
GO_BIN := build/go
JAEGER_VERSION := 2.12.0
GO_BUILD := CGO_ENABLED=0 go build -trimpath -buildvcs=false
GRPCURL_VERSION = $(shell sed -n 's|^\tgithub.com/fullstorydev/grpcurl \(v[^ ]*\).*|\1|p' gotools/grpc/go.mod)
VEGETA_VERSION = $(shell sed -n 's|^\tgithub.com/tsenart/vegeta/v12 \(v[^ ]*\).*|\1|p' gotools/vegeta/go.mod)

.PHONY: help venv run test postgres gotools jaeger lint load fuzz chaos bench audit protos names lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

venv: $(DEV_INSTALLED) ## create .venv with every pinned dependency (make run installs only what running needs)

$(RUN_INSTALLED): requirements.lock requirements-run.lock pyproject.toml $(PACKAGES)
	@$(PYTHON) -c 'import sys; sys.exit("tracemesh needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.lock -r requirements-run.lock
	# Editable and without dependencies: registers the packages and the propagator entry points.
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	@touch $@

# Re-made after the run layer whenever that one is (a newer prerequisite), always on top of it.
$(DEV_INSTALLED): $(RUN_INSTALLED) requirements-load.lock requirements-dev.lock
	$(PIP_INSTALL) -r requirements-dev.lock
	@touch $@

run: $(RUN_INSTALLED) ## run the mesh locally on SQLite; each finished trace prints as a waterfall (Ctrl-C stops)
	$(BIN)/python -m tools.mesh

test: lint ## lint, then every test (PostgreSQL tests skip when 127.0.0.1:5432 is unreachable, Jaeger tests without Go, unless CI=true)
	$(BIN)/pytest

gotools: $(GO_BIN)/jaeger $(GO_BIN)/grpcurl $(GO_BIN)/grpc-health-probe $(GO_BIN)/vegeta ## build Jaeger, grpcurl, grpc-health-probe and vegeta into build/go (needs Go; about 7 minutes the first time on 2 cores)

$(GO_BIN)/jaeger: gotools/jaeger/go.mod gotools/jaeger/go.sum
	@command -v go >/dev/null || { echo "make gotools needs Go (https://go.dev/doc/install)"; exit 1; }
	cd gotools/jaeger && $(GO_BUILD) -o $(CURDIR)/$@ \
		-ldflags "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$(JAEGER_VERSION)" \
		github.com/jaegertracing/jaeger/cmd/jaeger

$(GO_BIN)/grpcurl $(GO_BIN)/grpc-health-probe &: gotools/grpc/go.mod gotools/grpc/go.sum
	@command -v go >/dev/null || { echo "make gotools needs Go (https://go.dev/doc/install)"; exit 1; }
	cd gotools/grpc && $(GO_BUILD) -o $(CURDIR)/$(GO_BIN)/ -ldflags "-s -w -X main.version=$(GRPCURL_VERSION)" \
		github.com/fullstorydev/grpcurl/cmd/grpcurl github.com/grpc-ecosystem/grpc-health-probe
	@touch $(GO_BIN)/grpcurl $(GO_BIN)/grpc-health-probe

$(GO_BIN)/vegeta: gotools/vegeta/go.mod gotools/vegeta/go.sum
	@command -v go >/dev/null || { echo "make gotools needs Go (https://go.dev/doc/install)"; exit 1; }
	cd gotools/vegeta && $(GO_BUILD) -o $(CURDIR)/$@ -ldflags "-s -w -X main.Version=$(VEGETA_VERSION)" \
		github.com/tsenart/vegeta/v12

jaeger: $(GO_BIN)/jaeger ## run Jaeger here as compose does (UI and API :16686, OTLP :4317 and :4318, Zipkin :9411)
	$(GO_BIN)/jaeger --config deploy/jaeger/config.yaml

postgres: ## install and start a PostgreSQL for the tests from Debian's packages, with their role (sudo; CI runs it too)
	bash .ci/postgres

load: venv ## drive the running mesh (make run) with Locust for 60 s, about 10 requests/s, then print its summary (LOAD_ARGS to add Locust flags)
	$(BIN)/python -m tracemesh_demo.loadgen --headless --host $(LOAD_HOST) --users 10 --spawn-rate 10 --run-time 60s \
		--only-summary $(LOAD_ARGS)

fuzz: venv ## schemathesis against the gateway's OpenAPI on a real mesh: thousands of generated requests (about two minutes)
	TRACEMESH_FUZZ_EXAMPLES=500 $(BIN)/pytest -q -s tests/e2e/test_fuzz.py

chaos: venv ## inject every fault under load on SQLite and PostgreSQL, then print the report table (about 10 minutes)
	$(BIN)/python -m tools.chaos $(CHAOS_ARGS)

bench: venv $(GO_BIN)/vegeta ## measure what tracing costs (about 27 minutes; installs wrk, builds vegeta; BENCH_ARGS="--rounds 1" for a quick look)
	$(BIN)/python -m tools.bench $(BENCH_ARGS)

# Advisories accepted on purpose, each as `--ignore-vuln <ID>` with a comment saying why and until when.
AUDIT_IGNORE :=

audit: venv ## check every locked version against the advisories PyPI publishes (fails when one cannot be checked)
	$(BIN)/pip-audit --strict --progress-spinner off --disable-pip --no-deps \
		-r requirements.lock -r requirements-run.lock -r requirements-load.lock -r requirements-dev.lock \
		$(AUDIT_IGNORE)

lint: venv ## ruff and mypy
	$(BIN)/ruff check services tools examples tests
	$(BIN)/ruff format --check services tools examples tests
	$(BIN)/mypy services tools examples

# docs-region: make-protos
# Every contract under protos/; its import path is its package path under services/ (tracemesh/orders/v1/...).
PROTOS := $(sort $(shell find protos -name '*.proto'))
GENERATED_PACKAGE := """Code generated from protos/ by `make protos`; never edited by hand."""

protos: venv ## regenerate services/tracemesh/ from every .proto under protos/ (a test fails when one is stale)
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=services --pyi_out=services \
		--grpc_python_out=services $(PROTOS)
	# protoc writes modules only: each folder on their path gets the __init__.py that makes it a package.
	for dir in $(sort $(foreach proto,$(PROTOS),$(patsubst protos/%/,%,$(dir $(proto))))); do \
		while [ "$$dir" != . ]; do \
			[ -f "services/$$dir/__init__.py" ] || echo '$(GENERATED_PACKAGE)' > "services/$$dir/__init__.py"; \
			dir=$$(dirname "$$dir"); \
		done; \
	done
# docs-endregion: make-protos

names: venv ## list every place the project's name and its services' names are written, by kind (NAMES_ARGS=--summary)
	$(BIN)/python -m tools.names $(NAMES_ARGS)

lock: venv ## re-resolve requirements*.lock from requirements*.in
	$(BIN)/pip-compile --quiet --strip-extras --allow-unsafe --no-header --no-emit-index-url \
		--no-emit-find-links -o requirements.lock requirements.in
	$(BIN)/pip-compile --quiet --strip-extras --allow-unsafe --no-header --no-emit-index-url \
		--no-emit-find-links -o requirements-load.lock requirements-load.in
	$(BIN)/pip-compile --quiet --strip-extras --allow-unsafe --no-header --no-emit-index-url \
		--no-emit-find-links -o requirements-run.lock requirements-run.in
	$(BIN)/pip-compile --quiet --strip-extras --allow-unsafe --no-header --no-emit-index-url \
		--no-emit-find-links -o requirements-dev.lock requirements-dev.in

clean: ## remove the virtualenv and the local SQLite databases
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
