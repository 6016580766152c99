# Tollgate — run `make help` for the list of targets.
SHELL := /usr/bin/env bash
GO    ?= go
PKGS  ?= ./...
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install dynalite (npm, pinned) and terraform if missing
	@scripts/deps.sh

.PHONY: build
build: ## Build every binary into bin/
	$(GO) build -o bin/ ./cmd/...

.PHONY: demo
demo: deps ## Run the local multi-region stack (Ctrl-C stops it)
	$(GO) run ./cmd/tollgate-local

# Terraform acceptance tests run against the real terraform binary.
.PHONY: test
test: deps check ## Run every test CI runs (unit, integration, drills, Terraform acceptance) with the race detector
	TF_ACC=1 TF_ACC_TERRAFORM_PATH="$$(command -v terraform)" CHECKPOINT_DISABLE=1 \
		$(GO) test -race -count=1 -timeout 14m $(PKGS)

.PHONY: docs
docs: ## Regenerate the Terraform provider docs from its schema
	$(GO) run ./cmd/provider-docs

.PHONY: check
check: ## Fail on unformatted code, go vet findings or stale generated files
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^vendor/')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@scripts/check-generated.sh

.PHONY: bench
bench: deps ## Run the benchmarks: hot paths (5 runs each), then the load benchmark
	$(GO) test -run '^$$' -bench . -benchmem -count 5 $$($(GO) list ./... | grep -v '/test$$')
	$(GO) test -run '^$$' -bench BenchmarkLoad -benchtime 1x ./test

.PHONY: fuzz
fuzz: ## Fuzz every parser for FUZZTIME each (default 10s)
	@scripts/fuzz.sh $${FUZZTIME:-10s}

.PHONY: fmt
fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')
