# A named local cluster: real control plane processes from bin/, nodes and pods
# simulated by kwok, state under .cluster/<name>/ (kubeconfig included), every
# port on loopback. The logic lives once, in bin/nexios-cluster
# (tools/cluster/devcluster); internal/localcluster calls the same binary.

CLUSTER     ?= nexios
NODES       ?= 3
NODE_CPU    ?= 4
NODE_MEMORY ?= 16Gi
CLUSTER_STATE := $(ROOT)/.cluster

CLUSTER_FLAGS := -name '$(CLUSTER)' -state-dir '$(CLUSTER_STATE)' -bin-dir '$(BIN)'

.PHONY: cluster cluster-down cluster-status e2e

cluster: go-check control-plane kwok nexios-cluster ## Start the local cluster CLUSTER=nexios (NODES=3 NODE_CPU=4 NODE_MEMORY=16Gi); no-op if running.
	@start=$$SECONDS; \
	'$(BIN)/nexios-cluster' up $(CLUSTER_FLAGS) -nodes '$(NODES)' -node-cpu '$(NODE_CPU)' -node-memory '$(NODE_MEMORY)'; \
	echo "cluster: done in $$(( SECONDS - start ))s"

cluster-down: go-check nexios-cluster ## Stop the local cluster CLUSTER=nexios and remove all its state.
	@'$(BIN)/nexios-cluster' down $(CLUSTER_FLAGS)

cluster-status: go-check nexios-cluster ## Print running, stopped or absent for CLUSTER=nexios.
	@'$(BIN)/nexios-cluster' status $(CLUSTER_FLAGS)

# The end-to-end test starts and removes its own cluster (nexios-e2e), so a
# developer's cluster is never touched.
e2e: tools ## End-to-end: the real Pulumi engine against a local cluster, plus internal/ tests.
	NEXIOS_E2E=1 go test -count=1 -timeout 30m ./e2e/... ./internal/...
