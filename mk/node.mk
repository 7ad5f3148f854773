# Binaries a real Kubernetes node runs, built into $(BIN) from pinned Go
# modules with mk/tools.mk's stamped-build: each is rebuilt only when its
# version or the Go version changes (to force a rebuild: rm $(STAMPS)/<tool>).
#
# kubelet and kube-proxy are not built here: they are names of the Kubernetes
# multi-call binary mk/tools.mk builds from tools/cluster (KUBE_COMMANDS),
# which shares their dependencies with the control plane.
#
# The others are installed from their release modules with `go install
# module/cmd@version`, as kwok is: none of these modules has replace
# directives, so the build is exactly the release's go.mod and go.sum, checked
# against the checksum database, with no module of ours in between.

CONTAINERD_VERSION  := v2.4.2
RUNC_VERSION        := v1.5.3
CNI_PLUGINS_VERSION := v1.10.0
KUBE_ROUTER_VERSION := v2.1.0

# CNI plugins go in their own folder: the kubelet's runtime looks for every
# plugin in one directory (containerd's bin_dir), which should hold nothing
# else.
CNI_BIN := $(BIN)/cni
# bridge with host-local addresses is the pod network on each node, loopback
# every pod's lo, portmap hostPort.
CNI_PLUGINS := main/bridge ipam/host-local main/loopback meta/portmap

CONTAINERD_PIN  = $(CONTAINERD_VERSION) $(go-version)
RUNC_PIN        = $(RUNC_VERSION) $(go-version)
CNI_PLUGINS_PIN = $(CNI_PLUGINS_VERSION) $(go-version)
KUBE_ROUTER_PIN = $(KUBE_ROUTER_VERSION) $(go-version)

CONTAINERD_MODULE := github.com/containerd/containerd/v2
# Tags as upstream's Makefile sets them, less the snapshotters a node here
# cannot use: btrfs needs libbtrfs headers (btrfs-progs), which are not
# installed, and its code is cgo; devmapper and zfs drive host tools (dmsetup,
# zfs) and pools a node here does not have. overlayfs, the default, stays.
CONTAINERD_TAGS := urfave_cli_no_docs no_btrfs no_devmapper no_zfs
# Version and package as upstream's Makefile stamps them, and -s -w as its
# release builds (no GODEBUG) strip. A module zip carries no git commit, so
# version.Revision stays empty.
CONTAINERD_LDFLAGS := -X $(CONTAINERD_MODULE)/version.Version=$(CONTAINERD_VERSION) \
	-X $(CONTAINERD_MODULE)/version.Package=$(CONTAINERD_MODULE) -s -w

# cgo is off, so all three are static Go binaries: upstream builds the shim so
# (SHIM_CGO_ENABLED=0), and containerd itself only uses cgo for btrfs, left
# out above. The shim has upstream's extra no_grpc tag (it speaks ttrpc only),
# so it is installed by its own command.
define build-containerd
GOBIN='$(BIN)' CGO_ENABLED=0 $(GO) install -tags '$(CONTAINERD_TAGS)' -ldflags '$(CONTAINERD_LDFLAGS)' \
	$(CONTAINERD_MODULE)/cmd/containerd@$(CONTAINERD_VERSION) $(CONTAINERD_MODULE)/cmd/ctr@$(CONTAINERD_VERSION); \
GOBIN='$(BIN)' CGO_ENABLED=0 $(GO) install -tags '$(CONTAINERD_TAGS) no_grpc' -ldflags '$(CONTAINERD_LDFLAGS)' \
	$(CONTAINERD_MODULE)/cmd/containerd-shim-runc-v2@$(CONTAINERD_VERSION); \
$(call prints-version,$(BIN)/containerd --version,$(CONTAINERD_VERSION)); \
$(call prints-version,$(BIN)/ctr --version,$(CONTAINERD_VERSION)); \
$(call prints-version,$(BIN)/containerd-shim-runc-v2 -v,$(CONTAINERD_VERSION))
endef

# runc needs cgo (its nsenter is C) and, with the seccomp tag, libseccomp:
# without it runc cannot apply the RuntimeDefault seccomp profile that Pod
# Security `restricted` requires of every pod. Upstream's default tags, less
# libpathrs, a Rust library not available here (runc then uses its pure-Go
# path resolution). Linked as upstream's `make static` links its release
# binaries, static-pie (libseccomp.a comes with libseccomp-dev), so it runs
# in any root filesystem. runc embeds its version from the VERSION file in the
# module, so it cannot drift from the pin; upstream only adds -X
# main.gitCommit, which a module zip does not carry.
RUNC_TAGS := seccomp urfave_cli_no_docs

define build-runc
GOBIN='$(BIN)' CGO_ENABLED=1 $(GO) install -trimpath -buildmode=pie -tags '$(RUNC_TAGS) netgo osusergo' \
	-ldflags '-linkmode external -extldflags -static-pie' github.com/opencontainers/runc@$(RUNC_VERSION); \
$(call prints-version,$(BIN)/runc --version,$(RUNC_VERSION:v%=%)); \
$(call prints-version,$(BIN)/runc --version,libseccomp:)
endef

# Static, with the version stamped, as upstream's release workflow builds
# them (CGO_ENABLED=0, -X .../buildversion.BuildVersion=<tag>).
define build-cni-plugins
mkdir -p '$(CNI_BIN)'; \
GOBIN='$(CNI_BIN)' CGO_ENABLED=0 $(GO) install \
	-ldflags '-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$(CNI_PLUGINS_VERSION)' \
	$(foreach p,$(CNI_PLUGINS),github.com/containernetworking/plugins/plugins/$(p)@$(CNI_PLUGINS_VERSION)); \
for p in $(notdir $(CNI_PLUGINS)); do $(call prints-version,$(CNI_BIN)/$$p,$(CNI_PLUGINS_VERSION)); done
endef

# kube-router runs as each node's NetworkPolicy controller (iptables and ipset
# rules), so the program's NetworkPolicies are enforced, not just stored.
# Static and stamped as upstream's Makefile builds it; its version is the git
# tag (`git describe --tags`), which for a release module is the version.
KUBE_ROUTER_MODULE := github.com/cloudnativelabs/kube-router/v2

define build-kube-router
GOBIN='$(BIN)' CGO_ENABLED=0 $(GO) install -ldflags "-X $(KUBE_ROUTER_MODULE)/pkg/version.Version=$(KUBE_ROUTER_VERSION) \
	-X $(KUBE_ROUTER_MODULE)/pkg/version.BuildDate=$$(date +%Y-%m-%dT%H:%M:%S%z)" \
	$(KUBE_ROUTER_MODULE)/cmd/kube-router@$(KUBE_ROUTER_VERSION); \
$(call prints-version,$(BIN)/kube-router --version,$(KUBE_ROUTER_VERSION))
endef

.PHONY: node-tools node-check containerd runc cni-plugins kube-router

node-tools: node-check control-plane containerd runc cni-plugins kube-router ## Build a real node's binaries into bin/: kubelet, kube-proxy, containerd, runc, CNI plugins (bin/cni/), kube-router.

# runc's seccomp support is compiled with gcc against libseccomp's header,
# found by pkg-config, and linked with its static library; pause is C too.
# Without them the build would fail only after the long builds before it,
# with a cgo error that names no package to install.
node-check:
	@command -v gcc >/dev/null || { echo "tools: gcc is not installed: runc (cgo) and pause are C; apt-get install gcc libc6-dev"; exit 1; }
	@command -v pkg-config >/dev/null || { echo "tools: pkg-config is not installed: runc's seccomp library finds libseccomp with it; apt-get install pkg-config"; exit 1; }
	@[[ -f /usr/include/seccomp.h ]] || { echo "tools: /usr/include/seccomp.h is missing: runc is built with seccomp support (Pod Security restricted needs it); apt-get install libseccomp-dev"; exit 1; }

containerd: go-check
	$(call stamped-build,containerd,$(CONTAINERD_PIN),$(BIN)/containerd $(BIN)/containerd-shim-runc-v2 $(BIN)/ctr,build-containerd)

runc: go-check node-check
	$(call stamped-build,runc,$(RUNC_PIN),$(BIN)/runc,build-runc)

cni-plugins: go-check
	$(call stamped-build,cni-plugins,$(CNI_PLUGINS_PIN),$(addprefix $(CNI_BIN)/,$(notdir $(CNI_PLUGINS))),build-cni-plugins)

kube-router: go-check
	$(call stamped-build,kube-router,$(KUBE_ROUTER_PIN),$(BIN)/kube-router,build-kube-router)
