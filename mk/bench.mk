# make bench: the program against kubectl on the same manifests (issue 12). cmd/bench starts and
# removes its own clusters of simulated nodes (nexios-bench-k, -p and -c, in a scratch copy of the
# project root, never a real node), renders the stacks with `deploy render`, and prints one table of
# medians: `kubectl apply --server-side` + `rollout status` vs `deploy up` from empty, and
# `kubectl diff --server-side` vs a no-change `deploy preview --expect-no-changes` and `deploy up`.
# BENCH_BASE=REV adds the same timings of cmd/deploy as it was at REV (built from `git archive`),
# e.g. `make bench BENCH_BASE=HEAD` for before/after an uncommitted change.

BENCH_RUNS   ?= 3
BENCH_STACKS ?= dev
BENCH_BASE   ?=

.PHONY: bench

# Only what a Pulumi run and a cluster of simulated nodes need: no node tools, no images.
bench: go-check pulumi-cli random-provider kubernetes-provider control-plane kwok nexios-cluster ## Time `deploy up`/`preview` against kubectl on the same manifests, fresh clusters each run (BENCH_RUNS=3 BENCH_STACKS=dev BENCH_BASE=REV).
	NEXIOS_REAL_NODE=off $(GO) run ./cmd/bench -runs '$(BENCH_RUNS)' -stacks '$(BENCH_STACKS)' $(if $(BENCH_BASE),-base '$(BENCH_BASE)')
