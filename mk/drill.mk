# make dr-drill: issue 13's disaster-recovery drill (docs/disaster-recovery.md), on a cluster with a
# real node. TestDisasterRecoveryDrill deploys the dev stack with its PostgreSQL backed up into a
# bucket off the cluster (internal/s3local, on this machine), writes rows and takes a backup with the
# documented commands, backs the state up, loses the whole cluster (then the state too), recovers with
# the documented procedure, restores the database from the newest dump, checks the rows, every
# workload Ready and the exports other teams read unchanged, and ends with a table of each scenario's
# recovery point and time. `make e2e` runs the same test.

.PHONY: dr-drill

dr-drill: tools images ## Disaster-recovery drill on a real node: lose the cluster (and the state), recover the dev stack and its database, print the recovery point and time.
	NEXIOS_E2E=1 $(GO) test -count=1 -timeout 40m ./e2e/ -run '^TestDisasterRecoveryDrill$$' -v
