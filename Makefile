# Targets document themselves: `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

DATABASE_URL      ?= postgres://postgres@127.0.0.1:5432/scimd?sslmode=disable
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export DATABASE_URL TEST_DATABASE_URL

.PHONY: help run build test lint conformance bench

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## Build bin/scimd.
	go build -o bin/scimd ./cmd/scimd

run: build ## Migrate DATABASE_URL (creating it), create the demo org, print base URL and token, serve.
	./bin/scimd serve --demo

test: ## Run every test against the local PostgreSQL (TEST_DATABASE_URL).
	go test -race -count=1 ./...

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
