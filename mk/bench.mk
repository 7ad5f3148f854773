# make bench: the program against kubectl and Helm on the same manifests (issue 12). cmd/bench starts
# and removes its own clusters of simulated nodes (nexios-bench-k, -p, -h and -c, in a scratch copy of
# the project root, never a real node), renders the stacks with `deploy render --include-secrets`, and
# prints tables of medians: `kubectl apply --server-side` + `rollout status` vs `deploy up` vs `helm
# upgrade --install --wait` of a chart of the same manifests from empty; `kubectl diff --server-side`
# vs a no-change `deploy preview --expect-no-changes`, `deploy up` and `helm upgrade`; for the dev
# stack and the prod profile (deployed as the e2e tests deploy it locally); the program's construction
# under mocks; the CPU and memory each stack's components request and are limited to.
# BENCH_BASE=REV adds the same timings of cmd/deploy as it was at REV (built from `git archive`),
# e.g. `make bench BENCH_BASE=HEAD` for before/after an uncommitted change.

# Helm, for the bench's peer row only (not in `make tools`): built from its Go module, pinned in
# tools/helm/go.mod, stamped like the tools of mk/tools.mk. Its version flag reads the -X below; the
# module's default would print only "v3.22".
HELM_VERSION := v3.22.0
HELM_PIN      = $(HELM_VERSION) src:$(call source-hash,$(TOOLS_DIR)/helm,.) $(go-version)

define build-helm
cd '$(TOOLS_DIR)/helm'; \
$(call require-version,helm.sh/helm/v3,$(HELM_VERSION)); \
CGO_ENABLED=0 $(GO) build -o '$(BIN)/helm.tmp' \
	-ldflags '-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) -X helm.sh/helm/v3/internal/version.gitTreeState=clean' \
	helm.sh/helm/v3/cmd/helm; \
mv -f '$(BIN)/helm.tmp' '$(BIN)/helm'; \
$(call prints-version,$(BIN)/helm version --short,$(HELM_VERSION))
endef

BENCH_RUNS   ?= 3
BENCH_STACKS ?= dev,prod
BENCH_BASE   ?=

.PHONY: bench helm

helm: go-check ## Build Helm (pinned in tools/helm) into bin/: only make bench's peer row uses it.
	$(call stamped-build,helm,$(HELM_PIN),$(BIN)/helm,build-helm)

# Only what a Pulumi run and a cluster of simulated nodes need: no node tools, no images.
bench: go-check pulumi-cli random-provider kubernetes-provider control-plane kwok nexios-cluster helm ## Time `deploy up`/`preview` against kubectl and Helm on the same manifests, fresh clusters each run; CPU/memory per component (BENCH_RUNS=3 BENCH_STACKS=dev,prod BENCH_BASE=REV).
	NEXIOS_REAL_NODE=off $(GO) run ./cmd/bench -runs '$(BENCH_RUNS)' -stacks '$(BENCH_STACKS)' $(if $(BENCH_BASE),-base '$(BENCH_BASE)')
