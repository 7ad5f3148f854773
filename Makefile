# nexios-k8s: every entry point a person or a pipeline needs.
# Targets that build or run tools live in mk/*.mk, one file per concern.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
BIN  := $(ROOT)/bin
export PATH := $(BIN):$(PATH)

include $(sort $(wildcard mk/*.mk))

STACK ?= dev

.PHONY: help test unit lint up down

up: tools images ## Main job: deploy STACK (default dev), starting the local cluster (with a real node where the machine allows: REAL_NODE=auto|on|off) unless another is configured; prints what ran for real and the outputs.
	NEXIOS_CLUSTER=$(CLUSTER) NEXIOS_REAL_NODE=$(REAL_NODE) go run ./cmd/deploy up $(STACK)

down: tools ## Destroy STACK (prod also needs CONFIRM=prod), then stop the local cluster.
	NEXIOS_CLUSTER=$(CLUSTER) go run ./cmd/deploy destroy $(STACK) $(if $(CONFIRM),--confirm $(CONFIRM))
	$(MAKE) --no-print-directory cluster-down

test: lint unit e2e ## Everything CI runs: lint, unit tests, then end-to-end tests against a local cluster.

help: ## List the targets.
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-14s %s\n", $$1, $$2}'

unit: host-packages ## Unit tests: components, stacks and program with Pulumi mocks, and the commands' own; no cluster needed.
	go test -count=1 ./components/... ./stacks/... ./program/... ./cmd/...
	/usr/bin/python3 -m unittest discover -s examples/app -v

lint: ## gofmt and go vet.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	go vet ./...
