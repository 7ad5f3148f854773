# Upstream binaries that go into the container images the program deploys
# (tools/images packs them), built into $(UPSTREAM_BIN) from the Go modules
# of the releases the manifests name (components/monitoring/monitoring.go), so
# the images need nothing but the Go module proxy. Stamped with mk/tools.mk's
# stamped-build: each is rebuilt only when its version, its module's sources
# (tools/prometheus, tools/kube-state-metrics, tools/prometheus-adapter) or
# the Go version changes.
#
# Each is built the way upstream's own build does: the same build tags, cgo
# off (all of them ship static binaries) and the version stamped with the
# same -X flags. A module zip carries no git commit or branch, so those stay
# at upstream's defaults; build user and date are this build's, as upstream's
# are its own.

UPSTREAM_BIN := $(BIN)/upstream

# Prometheus 3.5.0's Go module is tagged v0.305.0 (v0.<major*100+minor>.<patch>):
# both are pinned, and the build checks that the module's VERSION file agrees.
PROMETHEUS_VERSION         := 3.5.0
PROMETHEUS_MODULE_VERSION  := v0.305.0
ALERTMANAGER_VERSION       := v0.28.1
KUBE_STATE_METRICS_VERSION := v2.16.0
PROMETHEUS_ADAPTER_VERSION := v0.12.0
METRICS_SERVER_VERSION     := v0.8.0
# The newest CoreDNS release the module proxy serves, and nexios-images'
# default tag (kubeadm v1.37.2 itself defaults to v1.14.6).
COREDNS_VERSION            := v1.15.0
# registry.k8s.io/pause's tag: TAG in build/pause/Makefile of the Kubernetes
# release tools/cluster pins (also kubeadm's PauseVersion); the build checks
# that they agree. The image builder tags the pause image with it.
PAUSE_VERSION              := 3.10.2
PAUSE_IMAGE                := registry.k8s.io/pause:$(PAUSE_VERSION)

PROMETHEUS_PIN         = $(PROMETHEUS_VERSION) src:$(call source-hash,$(TOOLS_DIR)/prometheus,.) $(go-version)
ALERTMANAGER_PIN       = $(ALERTMANAGER_VERSION) $(go-version)
KUBE_STATE_METRICS_PIN = $(KUBE_STATE_METRICS_VERSION) src:$(call source-hash,$(TOOLS_DIR)/kube-state-metrics,.) $(go-version)
PROMETHEUS_ADAPTER_PIN = $(PROMETHEUS_ADAPTER_VERSION) src:$(call source-hash,$(TOOLS_DIR)/prometheus-adapter,.) $(go-version)
METRICS_SERVER_PIN     = $(METRICS_SERVER_VERSION) $(go-version)
COREDNS_PIN            = $(COREDNS_VERSION) $(go-version)
# The pause binary is C: its compiler's version takes the Go version's place.
PAUSE_PIN              = $(PAUSE_VERSION) $(KUBE_VERSION) gcc-$(shell gcc -dumpfullversion 2>/dev/null)

# $(call promu-ldflags,VERSION): the -X flags of the Prometheus projects'
# .promu.yml (Version, BuildUser, BuildDate in promu's format); Revision and
# Branch are left out, see above.
promu-ldflags = -X github.com/prometheus/common/version.Version=$(1) \
	-X github.com/prometheus/common/version.BuildUser=$$(id -un)@$$(hostname) \
	-X github.com/prometheus/common/version.BuildDate=$$(date +%Y%m%d-%H:%M:%S)

# prometheus' go.mod has a replace directive (fsnotify), so `go install
# @version` refuses it: tools/prometheus requires it and copies the replace.
# .promu.yml's tags are netgo and builtinassets; builtinassets embeds the web
# UI, which upstream's release build first compiles with npm into files the Go
# module does not carry, so it is left out: this prometheus serves its API,
# metrics and /-/ endpoints, but no web UI pages.
define build-prometheus
cd '$(TOOLS_DIR)/prometheus'; \
$(call require-version,github.com/prometheus/prometheus,$(PROMETHEUS_MODULE_VERSION)); \
$(GO) mod download github.com/prometheus/prometheus; \
have=$$(cat "$$($(GO) list -m -f '{{.Dir}}' github.com/prometheus/prometheus)/VERSION"); \
[[ "$$have" == '$(PROMETHEUS_VERSION)' ]] || { echo "tools: prometheus $(PROMETHEUS_MODULE_VERSION) is Prometheus $$have, but mk/upstream.mk pins $(PROMETHEUS_VERSION); update one to match"; exit 1; }; \
rm -rf '$(UPSTREAM_BIN)/.prometheus.tmp'; \
CGO_ENABLED=0 $(GO) build -o '$(UPSTREAM_BIN)/.prometheus.tmp/' -tags netgo \
	-ldflags "$(call promu-ldflags,$(PROMETHEUS_VERSION))" \
	github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool; \
mv -f '$(UPSTREAM_BIN)/.prometheus.tmp/prometheus' '$(UPSTREAM_BIN)/.prometheus.tmp/promtool' '$(UPSTREAM_BIN)/'; \
rmdir '$(UPSTREAM_BIN)/.prometheus.tmp'; \
$(call prints-version,$(UPSTREAM_BIN)/prometheus --version,version $(PROMETHEUS_VERSION)); \
$(call prints-version,$(UPSTREAM_BIN)/promtool --version,version $(PROMETHEUS_VERSION))
endef

# As .promu.yml builds it (tags netgo); its web UI is committed to the module
# and embedded.
define build-alertmanager
GOBIN='$(UPSTREAM_BIN)' CGO_ENABLED=0 $(GO) install -tags netgo \
	-ldflags "$(call promu-ldflags,$(ALERTMANAGER_VERSION:v%=%))" \
	github.com/prometheus/alertmanager/cmd/alertmanager@$(ALERTMANAGER_VERSION) \
	github.com/prometheus/alertmanager/cmd/amtool@$(ALERTMANAGER_VERSION); \
$(call prints-version,$(UPSTREAM_BIN)/alertmanager --version,version $(ALERTMANAGER_VERSION:v%=%)); \
$(call prints-version,$(UPSTREAM_BIN)/amtool --version,version $(ALERTMANAGER_VERSION:v%=%))
endef

# Built from tools/kube-state-metrics, whose go.sum pins the module's hash:
# the module proxy refuses the version list that `go install @version` reads
# and the checksum database has no entry for it (see that go.mod). Flags as
# upstream's Makefile: -s -w, the version with its v, its date format.
define build-kube-state-metrics
cd '$(TOOLS_DIR)/kube-state-metrics'; \
$(call require-version,k8s.io/kube-state-metrics/v2,$(KUBE_STATE_METRICS_VERSION)); \
CGO_ENABLED=0 $(GO) build -o '$(UPSTREAM_BIN)/kube-state-metrics.tmp' \
	-ldflags "-s -w -X github.com/prometheus/common/version.Version=$(KUBE_STATE_METRICS_VERSION) \
	-X github.com/prometheus/common/version.BuildUser=$$(id -un)@$$(hostname) \
	-X github.com/prometheus/common/version.BuildDate=$$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	k8s.io/kube-state-metrics/v2; \
mv -f '$(UPSTREAM_BIN)/kube-state-metrics.tmp' '$(UPSTREAM_BIN)/kube-state-metrics'; \
$(call prints-version,$(UPSTREAM_BIN)/kube-state-metrics version,version $(KUBE_STATE_METRICS_VERSION))
endef

# Built from tools/prometheus-adapter: the module proxy refuses the version
# list that `go install @version` reads (see that go.mod). upstream's Makefile
# sets no version flags, and the adapter has no flag to print one: it is
# checked to start (--help prints its usage, and exits 2), and the module
# version go records in the binary is checked instead.
define build-prometheus-adapter
cd '$(TOOLS_DIR)/prometheus-adapter'; \
$(call require-version,sigs.k8s.io/prometheus-adapter,$(PROMETHEUS_ADAPTER_VERSION)); \
CGO_ENABLED=0 $(GO) build -o '$(UPSTREAM_BIN)/adapter.tmp' sigs.k8s.io/prometheus-adapter/cmd/adapter; \
mv -f '$(UPSTREAM_BIN)/adapter.tmp' '$(UPSTREAM_BIN)/adapter'; \
usage=$$('$(UPSTREAM_BIN)/adapter' --help 2>&1 || true); \
[[ "$$usage" == *--prometheus-url* ]] || { echo "tools: $(UPSTREAM_BIN)/adapter --help did not print its usage: $$usage"; exit 1; }; \
have=$$($(GO) version -m '$(UPSTREAM_BIN)/adapter' | awk '($$1 == "mod" || $$1 == "dep") && $$2 == "sigs.k8s.io/prometheus-adapter" { print $$3 }'); \
[[ "$$have" == '$(PROMETHEUS_ADAPTER_VERSION)' ]] || \
	{ echo "tools: $(UPSTREAM_BIN)/adapter is built from prometheus-adapter '$$have', not the pinned $(PROMETHEUS_ADAPTER_VERSION)"; exit 1; }; \
echo "tools: adapter (no version flag) is built from sigs.k8s.io/prometheus-adapter $$have"
endef

# As upstream's Makefile: -trimpath, -w, client-go's version variables.
define build-metrics-server
GOBIN='$(UPSTREAM_BIN)' CGO_ENABLED=0 $(GO) install -trimpath \
	-ldflags "-w -X k8s.io/client-go/pkg/version.gitVersion=$(METRICS_SERVER_VERSION) \
	-X k8s.io/client-go/pkg/version.buildDate=$$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	sigs.k8s.io/metrics-server/cmd/metrics-server@$(METRICS_SERVER_VERSION); \
$(call prints-version,$(UPSTREAM_BIN)/metrics-server --version,$(METRICS_SERVER_VERSION))
endef

# As upstream's Makefile: tag grpcnotrace, -s -w. The module root is the main
# package; the plugin list is the generated one the module carries (upstream
# regenerates it from the same plugin.cfg).
define build-coredns
GOBIN='$(UPSTREAM_BIN)' CGO_ENABLED=0 $(GO) install -tags grpcnotrace -ldflags '-s -w' \
	github.com/coredns/coredns@$(COREDNS_VERSION); \
$(call prints-version,$(UPSTREAM_BIN)/coredns -version,CoreDNS-$(COREDNS_VERSION:v%=%))
endef

# Compiled as build/pause/Makefile does (its CFLAGS, then strip), with the
# host's gcc in place of the kube-cross image's. Upstream's VERSION suffix is
# `git describe --contains` of the Kubernetes commit, which a module zip does
# not have; the Kubernetes version it comes from stands in for it.
define build-pause
cd '$(TOOLS_DIR)/cluster'; \
$(call require-version,k8s.io/kubernetes,$(KUBE_VERSION)); \
$(GO) mod download k8s.io/kubernetes; \
src="$$($(GO) list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause"; \
have=$$(sed -n 's/^TAG ?= *//p' "$$src/Makefile"); \
[[ "$$have" == '$(PAUSE_VERSION)' ]] || { echo "tools: Kubernetes $(KUBE_VERSION) builds pause $$have, but mk/upstream.mk pins $(PAUSE_VERSION); update one to match"; exit 1; }; \
mkdir -p '$(UPSTREAM_BIN)'; \
gcc -Os -Wall -Werror -static -DVERSION=v$(PAUSE_VERSION)-$(KUBE_VERSION) -o '$(UPSTREAM_BIN)/pause.tmp' "$$src/linux/pause.c"; \
strip '$(UPSTREAM_BIN)/pause.tmp'; \
mv -f '$(UPSTREAM_BIN)/pause.tmp' '$(UPSTREAM_BIN)/pause'; \
$(call prints-version,$(UPSTREAM_BIN)/pause -v,v$(PAUSE_VERSION))
endef

.PHONY: image-binaries upstream-versions prometheus alertmanager kube-state-metrics prometheus-adapter metrics-server coredns pause

image-binaries: prometheus alertmanager kube-state-metrics prometheus-adapter metrics-server coredns pause ## Build the images' upstream binaries into bin/upstream/: prometheus, promtool, alertmanager, amtool, kube-state-metrics, adapter, metrics-server, coredns, pause.

# Shell assignments, one a line, so a script can take them with
# eval "$(make -s upstream-versions)".
upstream-versions: ## Print the pinned versions of bin/upstream's binaries (image tags), as NAME=VALUE lines.
	@printf '%s\n' PROMETHEUS_VERSION=$(PROMETHEUS_VERSION) ALERTMANAGER_VERSION=$(ALERTMANAGER_VERSION) \
		KUBE_STATE_METRICS_VERSION=$(KUBE_STATE_METRICS_VERSION) PROMETHEUS_ADAPTER_VERSION=$(PROMETHEUS_ADAPTER_VERSION) \
		METRICS_SERVER_VERSION=$(METRICS_SERVER_VERSION) COREDNS_VERSION=$(COREDNS_VERSION) \
		PAUSE_VERSION=$(PAUSE_VERSION) PAUSE_IMAGE=$(PAUSE_IMAGE)

# The unit tests check the generated configuration and rules with the promtool
# and amtool of the releases the images run (components/monitoring).
unit: prometheus alertmanager

prometheus: go-check
	$(call stamped-build,prometheus,$(PROMETHEUS_PIN),$(UPSTREAM_BIN)/prometheus $(UPSTREAM_BIN)/promtool,build-prometheus)

alertmanager: go-check
	$(call stamped-build,alertmanager,$(ALERTMANAGER_PIN),$(UPSTREAM_BIN)/alertmanager $(UPSTREAM_BIN)/amtool,build-alertmanager)

kube-state-metrics: go-check
	$(call stamped-build,kube-state-metrics,$(KUBE_STATE_METRICS_PIN),$(UPSTREAM_BIN)/kube-state-metrics,build-kube-state-metrics)

prometheus-adapter: go-check
	$(call stamped-build,prometheus-adapter,$(PROMETHEUS_ADAPTER_PIN),$(UPSTREAM_BIN)/adapter,build-prometheus-adapter)

metrics-server: go-check
	$(call stamped-build,metrics-server,$(METRICS_SERVER_PIN),$(UPSTREAM_BIN)/metrics-server,build-metrics-server)

coredns: go-check
	$(call stamped-build,coredns,$(COREDNS_PIN),$(UPSTREAM_BIN)/coredns,build-coredns)

pause: go-check node-check
	$(call stamped-build,pause,$(PAUSE_PIN),$(UPSTREAM_BIN)/pause,build-pause)
