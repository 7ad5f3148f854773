# A named local cluster: real control plane processes from bin/, nodes and pods
# simulated by kwok, and with REAL_NODES=1 a real node whose containers run
# (containerd, runc, kube-proxy, kube-router, CoreDNS; root only), state under
# .cluster/<name>/ (kubeconfig included). The logic lives once, in bin/nexios-cluster
# (tools/cluster/devcluster); internal/localcluster calls the same binary.

CLUSTER     ?= nexios
NODES       ?= 3
NODE_CPU    ?= 4
NODE_MEMORY ?= 16Gi
REAL_NODES  ?= 0
# make up: auto gives a new cluster a real node where the machine can run one.
REAL_NODE   ?= auto
CLUSTER_STATE := $(ROOT)/.cluster

CLUSTER_FLAGS := -name '$(CLUSTER)' -state-dir '$(CLUSTER_STATE)' -bin-dir '$(BIN)'

.PHONY: cluster cluster-stop cluster-down cluster-status cluster-test e2e

cluster: go-check control-plane kwok nexios-cluster $(if $(filter 1,$(REAL_NODES)),node-tools images) ## Start the local cluster CLUSTER=nexios (NODES=3 NODE_CPU=4 NODE_MEMORY=16Gi, REAL_NODES=0|1); no-op if running.
	@start=$$SECONDS; \
	'$(BIN)/nexios-cluster' up $(CLUSTER_FLAGS) -nodes '$(NODES)' -node-cpu '$(NODE_CPU)' -node-memory '$(NODE_MEMORY)' -real-nodes '$(REAL_NODES)'; \
	echo "cluster: done in $$(( SECONDS - start ))s"

cluster-stop: go-check nexios-cluster ## Stop the local cluster CLUSTER=nexios and keep its state, as a reboot would; `make cluster` starts it again.
	@'$(BIN)/nexios-cluster' stop $(CLUSTER_FLAGS)

cluster-down: go-check nexios-cluster ## Stop the local cluster CLUSTER=nexios and remove all its state.
	@'$(BIN)/nexios-cluster' down $(CLUSTER_FLAGS)

cluster-status: go-check nexios-cluster ## Print running, stopped or absent for CLUSTER=nexios.
	@'$(BIN)/nexios-cluster' status $(CLUSTER_FLAGS)

# The end-to-end test starts and removes its own cluster (nexios-e2e), so a
# developer's cluster is never touched.
e2e: tools images ## End-to-end: the real Pulumi engine against local clusters (one with a real node, where the machine allows), plus internal/ tests.
	NEXIOS_E2E=1 go test -count=1 -timeout 80m ./e2e/... ./internal/...

cluster-test: go-check ## Tests of nexios-cluster: options, kwokctl and real node configuration, placement policy, and a volume claim bound on a cluster of its own.
	cd '$(TOOLS_DIR)/cluster' && NEXIOS_E2E=1 $(GO) test -count=1 ./...

# After the tools: one of its tests starts a cluster.
e2e: cluster-test
