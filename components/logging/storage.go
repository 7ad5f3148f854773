package logging

import (
	"fmt"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Local ephemeral storage, bounded as kube.EphemeralStorage describes. Elasticsearch's data on a
// volume claim and Fluent Bit's buffer on the node (hostPath) are not ephemeral storage. Fluent Bit,
// the setup Job (its scratch space is memory) and Elasticsearch's config copy write nothing but their
// logs: kube.SmallEphemeralStorage.
var (
	// kibanaEphemeralStorage covers kibanaDataSize, kibanaTmpSize and the logs, with room to spare.
	kibanaEphemeralStorage = kube.EphemeralStorage{Request: "256Mi", Limit: "1Gi"}
	// esEphemeralStorage covers esConfigSize, esTmpSize, esLogsSize and the logs; with Ephemeral the
	// data emptyDir's size is added to both (esEphemeralStorageFor). The request is what the GC logs
	// reach in weeks, the limit what they may reach at all.
	esEphemeralStorage = kube.EphemeralStorage{Request: "512Mi", Limit: "3Gi"}
)

// The sizeLimits of the emptyDir volumes.
const (
	// esConfigSize holds the image's config directory and the keystore Elasticsearch writes into it:
	// well under a MiB.
	esConfigSize = "32Mi"
	// esTmpSize is ES_TMPDIR: the native libraries JNA unpacks and the ML controller's pipes.
	esTmpSize = "256Mi"
	// esLogsSize is the logs directory. In the Docker image the server logs to the console; the GC
	// logs stay here, rotated over 32 files of 64 MiB by the image's jvm.options: up to 2 GiB ("GC
	// logging settings" in Elastic's JVM settings). The rest is for fatal-error reports.
	esLogsSize = "2304Mi"
	// kibanaDataSize is Kibana's data directory: its instance UUID and little else.
	kibanaDataSize = "128Mi"
	// kibanaTmpSize is scratch space for Node.js and report generation.
	kibanaTmpSize = "256Mi"
)

// esEphemeralStorageFor is Elasticsearch's ephemeral storage: esEphemeralStorage, plus the data
// emptyDir's sizeLimit when the data is Ephemeral, since the kubelet counts that volume too.
func esEphemeralStorageFor(es Elasticsearch) (kube.EphemeralStorage, error) {
	if !es.Ephemeral {
		return esEphemeralStorage, nil
	}
	request, err := kube.SumMi(esEphemeralStorage.Request, es.StorageSize)
	if err != nil {
		return kube.EphemeralStorage{}, fmt.Errorf("sizing elasticsearch's ephemeral storage: %w", err)
	}
	limit, err := kube.SumMi(esEphemeralStorage.Limit, es.StorageSize)
	if err != nil {
		return kube.EphemeralStorage{}, fmt.Errorf("sizing elasticsearch's ephemeral storage: %w", err)
	}
	return kube.EphemeralStorage{Request: request, Limit: limit}, nil
}
