# Targets document themselves: `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# make run and make test use the PostgreSQL that .ci/postgres finds or starts: the one on
# 127.0.0.1:5432, else the machine's cluster, else a private cluster under .data/. Set
# DATABASE_URL or TEST_DATABASE_URL to use another server as it is.
# VERSION, when set, is what `scimd version` reports (make build VERSION=1.2.0); without it,
# the version Go records from the checkout.
LDFLAGS := $(if $(VERSION), -ldflags "-X main.version=$(VERSION)")

.PHONY: help run build test lint conformance bench

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## Build bin/scimd.
	go build$(LDFLAGS) -o bin/scimd ./cmd/scimd

run: build ## Start PostgreSQL if needed, create the demo org, print base URL and token, serve.
	@url="$${DATABASE_URL:-}"; if [ -z "$$url" ]; then url="$$(.ci/postgres scimd)" || exit 1; fi; \
	DATABASE_URL="$$url" exec ./bin/scimd serve --demo

test: ## Start PostgreSQL if needed and run every test against it (TEST_DATABASE_URL).
	@url="$${TEST_DATABASE_URL:-}"; if [ -z "$$url" ]; then url="$$(.ci/postgres test)" || exit 1; fi; \
	echo "TEST_DATABASE_URL=$$url"; TEST_DATABASE_URL="$$url" go test -race -count=1 ./...

lint: ## gofmt, go mod tidy (go.mod and go.sum as tidy leaves them), go vet and staticcheck.
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	@go mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy"; exit 1; }
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

conformance: build ## Run Okta's SCIM 2.0 spec test against a fresh scimd and database.
	.ci/conformance

bench: build ## Benchmark scimd against a minimal ceiling server and raw pgx on a fresh database (BENCH_FLAGS='-users 1000000 -out BENCHMARKS.md -json bench.json').
	go build -o bin/scimbench ./cmd/scimbench
	./bin/scimbench $(BENCH_FLAGS)
