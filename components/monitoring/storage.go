package monitoring

import (
	"fmt"
	"math"
	"strconv"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Local ephemeral storage, bounded as kube.EphemeralStorage describes; a caller's own
// kube.Resources.EphemeralStorage takes precedence. kube-state-metrics, the adapter (its serving
// certificate) and Prometheus with its data on a volume claim write little beside their logs:
// kube.SmallEphemeralStorage.
var (
	// alertmanagerEphemeralStorage covers alertmanagerDataSize and the logs.
	alertmanagerEphemeralStorage = kube.EphemeralStorage{Request: "64Mi", Limit: "256Mi"}
	// grafanaEphemeralStorage covers grafanaDataSize, grafanaTmpSize and the logs.
	grafanaEphemeralStorage = kube.EphemeralStorage{Request: "256Mi", Limit: "1Gi"}
)

// The sizeLimits of the emptyDir volumes.
const (
	// alertmanagerDataSize holds the silences and the notification log: kilobytes, snapshotted every
	// 15 minutes.
	alertmanagerDataSize = "64Mi"
	// grafanaDataSize is Grafana's data directory: its SQLite database (users, sessions, annotations,
	// dashboard versions) and the plugins directory, which defaults to it.
	grafanaDataSize = "512Mi"
	grafanaTmpSize  = "64Mi"
	// adapterTmpSize holds the adapter's self-signed serving certificate.
	adapterTmpSize = "16Mi"
	// emptyDirRetentionSize caps Prometheus' data on an emptyDir when the caller sets no retention
	// size: without a cap the TSDB would grow until the volume's sizeLimit evicts the pod and all of
	// it is lost. The dev profile's value.
	emptyDirRetentionSize = "1GB"
)

// prometheusStorage is how Prometheus' local storage is bounded. On a volume claim (StorageSize set)
// the data is not ephemeral storage, and only the logs count. On an emptyDir the TSDB's retention size
// (the caller's, or emptyDirRetentionSize) bounds the data, and dataSize, the volume's sizeLimit, is
// half again as much: Prometheus deletes blocks over the retention size only when it reloads them,
// and a compaction writes its new block before the ones it replaces go. The container requests what
// the retention keeps and is limited to what the volume may hold.
type prometheusStorage struct {
	ephemeral     kube.EphemeralStorage
	dataSize      string
	retentionSize string
}

func newPrometheusStorage(p Prometheus) (prometheusStorage, error) {
	if p.StorageSize != "" {
		return prometheusStorage{ephemeral: kube.SmallEphemeralStorage, retentionSize: p.RetentionSize}, nil
	}
	retention := p.RetentionSize
	if retention == "" {
		retention = emptyDirRetentionSize
	}
	bytes, err := promSizeBytes(retention)
	if err != nil {
		return prometheusStorage{}, fmt.Errorf("prometheus: retention size: %w", err)
	}
	retained := fmt.Sprintf("%dMi", int64(math.Ceil(bytes/(1<<20))))
	dataSize := fmt.Sprintf("%dMi", int64(math.Ceil(bytes*3/2/(1<<20))))
	request, err := kube.SumMi(kube.SmallEphemeralStorage.Request, retained)
	if err != nil {
		return prometheusStorage{}, fmt.Errorf("prometheus: ephemeral storage request: %w", err)
	}
	limit, err := kube.SumMi(kube.SmallEphemeralStorage.Limit, dataSize)
	if err != nil {
		return prometheusStorage{}, fmt.Errorf("prometheus: ephemeral storage limit: %w", err)
	}
	return prometheusStorage{
		ephemeral:     kube.EphemeralStorage{Request: request, Limit: limit},
		dataSize:      dataSize,
		retentionSize: retention,
	}, nil
}

// promSizeUnits are the units of Prometheus' size flags, which count in powers of two (1KB = 1024B).
var promSizeUnits = map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50, "EB": 1 << 60}

// promSizeBytes reads a Prometheus size such as 45GB.
func promSizeBytes(size string) (float64, error) {
	if !promSize.MatchString(size) {
		return 0, fmt.Errorf("%q is not a Prometheus size such as 1GB", size)
	}
	split := len(size) - 1
	for split > 0 && (size[split-1] < '0' || size[split-1] > '9') {
		split--
	}
	n, err := strconv.ParseFloat(size[:split], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a Prometheus size: %w", size, err)
	}
	return n * promSizeUnits[size[split:]], nil
}
