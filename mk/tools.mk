# Tools the project runs, built into $(BIN) from pinned Go modules under tools/
# (each its own module, so the program's go.mod carries none of their
# dependencies). Only Go modules are downloaded, through the Go module proxy.
#
# Each tool is stamped in $(STAMPS)/<tool> with its pin: the version, a hash of
# the sources that go into it and the Go version. A tool is rebuilt only when
# its binary is missing or its pin changed, so a second `make tools` only
# compares stamps. To force a rebuild: rm $(STAMPS)/<tool>.

# The newest go directive among the modules built: the CNI plugins' v1.10.0
# needs 1.26.8 (the root go.mod 1.26.6); older toolchains cannot build them.
GO_MIN_VERSION              := 1.26.8
PULUMI_VERSION              := v3.274.1
# The release whose commit tools/provider-kubernetes/go.mod pins (the provider
# module has no release tags of its own, only that pseudo-version).
KUBERNETES_PROVIDER_VERSION := 4.25.0
KUBE_VERSION                := v1.37.2
KWOK_VERSION                := v0.8.0

STAMPS        := $(BIN)/.stamps
TOOLS_DIR     := $(ROOT)/tools
# The names bin/kube-controlplane, the Kubernetes multi-call binary, answers
# to: one symlink each. The control plane kwokctl starts, the node agents a
# real node runs (mk/node.mk), and kubectl to look at a local cluster.
KUBE_COMMANDS := kube-apiserver kube-controller-manager kube-scheduler etcd kubelet kube-proxy kubectl
# Never let the go command fetch a newer toolchain: go-check decides whether
# the installed one will do.
GO            := GOTOOLCHAIN=local go

KUBE_MAJOR := $(word 1,$(subst ., ,$(KUBE_VERSION:v%=%)))
KUBE_MINOR := $(word 2,$(subst ., ,$(KUBE_VERSION:v%=%)))

# $(call source-hash,DIR,PATHS): hash of the Go sources, go.mod and go.sum
# under PATHS (relative to DIR). Recursive variables below use it, so it only
# runs when a tool's recipe does.
source-hash = $(shell cd '$(1)' && find $(2) -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum \) -print0 \
	| LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
go-version = $(shell $(GO) env GOVERSION 2>/dev/null)

PULUMI_PIN              = $(PULUMI_VERSION) src:$(call source-hash,$(TOOLS_DIR)/pulumi,.) $(go-version)
KUBERNETES_PROVIDER_PIN = $(KUBERNETES_PROVIDER_VERSION) src:$(call source-hash,$(TOOLS_DIR)/provider-kubernetes,.) $(go-version)
CONTROL_PLANE_PIN       = $(KUBE_VERSION) src:$(call source-hash,$(TOOLS_DIR)/cluster,go.mod go.sum cmd/controlplane) $(go-version)
NEXIOS_CLUSTER_PIN      = src:$(call source-hash,$(TOOLS_DIR)/cluster,go.mod go.sum devcluster cmd/nexios-cluster) $(go-version)
KWOK_PIN                = $(KWOK_VERSION) $(go-version)

# $(call stamped-build,TOOL,PIN,OUTPUTS,RECIPE): runs RECIPE (the name of a
# variable holding the build commands) unless every OUTPUT is executable and
# the stamp holds PIN; prints what it builds and how long it took. The stamp
# is removed first, so an interrupted build is never taken for a finished one.
define stamped-build
@stamp='$(STAMPS)/$(1)'; want='$(2)'; \
up_to_date=yes; for f in $(3); do [[ -x "$$f" ]] || up_to_date=; done; \
if [[ -n "$$up_to_date" && "$$(cat "$$stamp" 2>/dev/null)" == "$$want" ]]; then \
	echo "tools: $(1) is up to date ($$want)"; exit 0; \
fi; \
echo "tools: building $(1) ($$want)"; start=$$SECONDS; \
rm -f "$$stamp"; mkdir -p '$(BIN)' '$(STAMPS)'; \
$($(4)); \
echo "$$want" > "$$stamp"; \
echo "tools: built $(1) in $$(( (SECONDS - start) / 60 ))m$$(( (SECONDS - start) % 60 ))s"
endef

# $(call require-version,MODULE,VERSION): fails when the tool module in the
# current directory requires MODULE at another version than this file pins,
# so the version baked in by -ldflags cannot drift from the code built.
define require-version
have=$$($(GO) list -m -f '{{.Version}}' $(1)); \
[[ "$$have" == '$(2)' ]] || { echo "tools: $$PWD/go.mod requires $(1) $$have but mk/tools.mk pins $(2); update one to match"; exit 1; }
endef

# $(call prints-version,COMMAND,VERSION): fails unless COMMAND (a built binary
# and its version flag) runs and prints VERSION, so a binary that cannot start
# here, or that reports another version than its pin, is never stamped as
# built. Prints the line that holds VERSION.
define prints-version
out=$$($(1) 2>&1) || { echo "tools: $(1) failed: $$out"; exit 1; }; \
[[ "$$out" == *'$(2)'* ]] || { echo "tools: $(1) printed \"$$out\", not the pinned $(2)"; exit 1; }; \
echo "tools: $(notdir $(firstword $(1))) reports: $$(grep -m1 -F -- '$(2)' <<<"$$out")"
endef

define build-pulumi
cd '$(TOOLS_DIR)/pulumi'; \
$(call require-version,github.com/pulumi/pulumi/pkg/v3,$(PULUMI_VERSION)); \
$(GO) build -o '$(BIN)/pulumi.tmp' \
	-ldflags '-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$(PULUMI_VERSION)' \
	github.com/pulumi/pulumi/pkg/v3/cmd/pulumi; \
mv -f '$(BIN)/pulumi.tmp' '$(BIN)/pulumi'
endef

# The provider embeds its schema and Terraform mapping, which upstream keeps
# next to its main package; they are copied from the module cache on every
# build (and ignored by git), so they always match the pinned module.
define build-kubernetes-provider
cd '$(TOOLS_DIR)/provider-kubernetes'; \
$(call require-version,github.com/pulumi/pulumi-kubernetes/sdk/v4,v$(KUBERNETES_PROVIDER_VERSION)); \
$(GO) mod download github.com/pulumi/pulumi-kubernetes/provider/v4; \
upstream="$$($(GO) list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)/cmd/pulumi-resource-kubernetes"; \
install -m 0644 "$$upstream/schema.json" "$$upstream/terraform-mapping.json" .; \
$(GO) build -o '$(BIN)/pulumi-resource-kubernetes.tmp' \
	-ldflags '-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$(KUBERNETES_PROVIDER_VERSION)' .; \
mv -f '$(BIN)/pulumi-resource-kubernetes.tmp' '$(BIN)/pulumi-resource-kubernetes'
endef

# The components report their version from these variables; the Kubernetes
# provider refuses a cluster reporting none, and a node whose kubelet reports
# another version than the control plane's is skewed.
define build-control-plane
cd '$(TOOLS_DIR)/cluster'; \
$(call require-version,k8s.io/kubernetes,$(KUBE_VERSION)); \
$(GO) build -o '$(BIN)/kube-controlplane.tmp' -ldflags '-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(KUBE_MAJOR) -X k8s.io/component-base/version.gitMinor=$(KUBE_MINOR) \
	-X k8s.io/component-base/version.gitTreeState=clean' ./cmd/controlplane; \
mv -f '$(BIN)/kube-controlplane.tmp' '$(BIN)/kube-controlplane'; \
for name in $(KUBE_COMMANDS); do ln -sfn kube-controlplane "$(BIN)/$$name"; done; \
$(call prints-version,$(BIN)/kubelet --version,$(KUBE_VERSION)); \
$(call prints-version,$(BIN)/kube-proxy --version,$(KUBE_VERSION))
endef

define build-nexios-cluster
cd '$(TOOLS_DIR)/cluster'; \
$(GO) build -o '$(BIN)/nexios-cluster.tmp' ./cmd/nexios-cluster; \
mv -f '$(BIN)/nexios-cluster.tmp' '$(BIN)/nexios-cluster'
endef

# kwok's own go.mod pins Kubernetes libraries older than the control plane's,
# so it is installed from its release module rather than merged into
# tools/cluster, where minimal version selection would upgrade them.
define build-kwok
GOBIN='$(BIN)' $(GO) install sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION) sigs.k8s.io/kwok/cmd/kwokctl@$(KWOK_VERSION)
endef

.PHONY: tools go-check pulumi-cli kubernetes-provider control-plane kwok nexios-cluster

# pulumi-cli comes before random-provider (mk/random.mk), which installs the
# real plugin when bin/pulumi can; under -j the order is not kept, and
# random-provider makes its choice again once the CLI exists. node-check
# (mk/node.mk) comes early so a missing C library stops the run before the
# long builds, not after them.
tools: go-check host-packages node-check pulumi-cli random-provider kubernetes-provider control-plane kwok nexios-cluster node-tools image-binaries ## Build the Pulumi CLI, providers, control plane, kwok, node binaries and image binaries into bin/ (once; later runs reuse them).

go-check:
	@command -v go >/dev/null || { echo "tools: Go is not installed (or not on PATH); install Go $(GO_MIN_VERSION) or newer from https://go.dev/dl/"; exit 1; }
	@have=$$($(GO) env GOVERSION); have=$${have#go}; \
	if [[ "$$(printf '%s\n%s\n' '$(GO_MIN_VERSION)' "$$have" | sort -V | head -n1)" != '$(GO_MIN_VERSION)' ]]; then \
		echo "tools: Go $$have is older than $(GO_MIN_VERSION), which the tools' modules need; install Go $(GO_MIN_VERSION) or newer from https://go.dev/dl/"; exit 1; \
	fi

pulumi-cli: go-check
	$(call stamped-build,pulumi,$(PULUMI_PIN),$(BIN)/pulumi,build-pulumi)

kubernetes-provider: go-check
	$(call stamped-build,pulumi-resource-kubernetes,$(KUBERNETES_PROVIDER_PIN),$(BIN)/pulumi-resource-kubernetes,build-kubernetes-provider)

control-plane: go-check
	$(call stamped-build,kube-controlplane,$(CONTROL_PLANE_PIN),$(BIN)/kube-controlplane $(addprefix $(BIN)/,$(KUBE_COMMANDS)),build-control-plane)

nexios-cluster: go-check
	$(call stamped-build,nexios-cluster,$(NEXIOS_CLUSTER_PIN),$(BIN)/nexios-cluster,build-nexios-cluster)

kwok: go-check
	$(call stamped-build,kwok,$(KWOK_PIN),$(BIN)/kwok $(BIN)/kwokctl,build-kwok)
