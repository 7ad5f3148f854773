# make dr-drill: issue 13's disaster-recovery drill (docs/disaster-recovery.md), on simulated nodes
# until CI has a real-node cluster. TestDisasterRecoveryDrill deploys the dev stack on a cluster of its
# own (nexios-e2e-drill, never a real node), backs the state up, loses the whole cluster (then the
# state too), recovers with the documented procedure, checks every workload Ready and the exports
# other teams read unchanged, and ends with a table of each scenario's recovery point and time.
# `make e2e` runs the same test.

.PHONY: dr-drill

# Only what a Pulumi run and a cluster of simulated nodes need: no node tools, no images.
dr-drill: go-check pulumi-cli random-provider kubernetes-provider control-plane kwok nexios-cluster ## Disaster-recovery drill: lose the cluster (and the state), recover the dev stack, print the recovery point and time.
	NEXIOS_E2E=1 NEXIOS_REAL_NODE=off $(GO) test -count=1 -timeout 40m ./e2e/ -run '^TestDisasterRecoveryDrill$$' -v
