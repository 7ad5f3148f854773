package monitoring

import (
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/podcheck"
)

func TestPromSizeBytes(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"1GB", 1 << 30, true},
		{"45GB", 45 << 30, true},
		{"512MB", 512 << 20, true},
		{"100B", 100, true},
		{"2TB", 2 << 40, true},
		{"1Gi", 0, false},
		{"GB", 0, false},
		{"1.5GB", 0, false},
	}
	for _, tt := range tests {
		got, err := promSizeBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("promSizeBytes(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// On an emptyDir Prometheus' data counts as ephemeral storage: the retention size bounds it, the
// volume's sizeLimit is half again as much, and the container's request and limit include both. On a
// volume claim only the logs count.
func TestPrometheusEphemeralStorage(t *testing.T) {
	noRetentionSize := devArgs()
	noRetentionSize.Prometheus.RetentionSize = ""
	bigger := devArgs()
	bigger.Prometheus.RetentionSize = "2GB"
	tests := []struct {
		name           string
		args           MonitoringArgs
		retention      string
		dataSize       string
		request, limit string
	}{
		{"dev: emptyDir, 1GB", devArgs(), "1GB", "1536Mi", "1088Mi", "1664Mi"},
		{"emptyDir without a retention size gets one", noRetentionSize, "1GB", "1536Mi", "1088Mi", "1664Mi"},
		{"emptyDir, 2GB", bigger, "2GB", "3072Mi", "2112Mi", "3200Mi"},
		{"prod: volume claim", prodArgs(), "45GB", "", "64Mi", "128Mi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			p := m.Find(t, tStatefulSet, "mon-prometheus")
			if a := args(p); !strings.Contains(a, "--storage.tsdb.retention.size="+tt.retention) {
				t.Errorf("args %q, want retention size %s", a, tt.retention)
			}
			dataSize := ""
			for i := range p.Len(podSpec + ".volumes") {
				v := podSpec + ".volumes[" + strconv.Itoa(i) + "]"
				if p.String(v+".name") == "data" {
					dataSize = p.String(v + ".emptyDir.sizeLimit")
				}
			}
			if dataSize != tt.dataSize {
				t.Errorf("data emptyDir sizeLimit %q, want %q", dataSize, tt.dataSize)
			}
			expectString(t, p, container+`.resources.requests["ephemeral-storage"]`, tt.request)
			expectString(t, p, container+`.resources.limits["ephemeral-storage"]`, tt.limit)
		})
	}
}

// Every container of the bundled stack requests and limits ephemeral storage, every emptyDir is
// bounded within those limits, and every pod satisfies the namespace's `restricted` standard.
func TestEveryContainerBoundsItsEphemeralStorage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args MonitoringArgs
	}{{"dev", devArgs()}, {"prod", prodArgs()}} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			workloads := podcheck.Workloads(m)
			for _, w := range workloads {
				podcheck.EphemeralStorage(t, w, podcheck.TemplateSpec)
				podcheck.Restricted(t, w, podcheck.TemplateSpec)
			}
			if len(workloads) < 4 {
				t.Errorf("checked %d workloads, want at least Prometheus, Alertmanager, kube-state-metrics and Grafana", len(workloads))
			}
		})
	}
}

// A caller's own ephemeral storage wins over the component's default.
func TestCallerEphemeralStorageWins(t *testing.T) {
	a := devArgs()
	a.Grafana.Resources = kube.Resources{
		Requests:         kube.ResourceList{CPU: "100m", Memory: "128Mi"},
		Limits:           kube.ResourceList{CPU: "500m", Memory: "256Mi"},
		EphemeralStorage: kube.EphemeralStorage{Request: "1Gi", Limit: "2Gi"},
	}
	m, _ := deploy(t, a)
	g := m.Find(t, tDeployment, "mon-grafana")
	expectString(t, g, container+`.resources.requests["ephemeral-storage"]`, "1Gi")
	expectString(t, g, container+`.resources.limits["ephemeral-storage"]`, "2Gi")
}

// The ephemeral storage each container requests and limits, and its pod's emptyDir sizeLimits: the
// figures the README gives.
func TestWorkloadEphemeralStorage(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	tests := []struct {
		typ, name      string
		request, limit string
		emptyDirs      map[string]string
	}{
		{tStatefulSet, "mon-prometheus", "64Mi", "128Mi", map[string]string{}},
		{tStatefulSet, "mon-alertmanager", "64Mi", "256Mi", map[string]string{"data": "64Mi"}},
		{tDeployment, "mon-kube-state-metrics", "64Mi", "128Mi", map[string]string{}},
		{tDeployment, "mon-grafana", "256Mi", "1Gi", map[string]string{"data": "512Mi", "tmp": "64Mi"}},
		{tDeployment, "mon-adapter", "64Mi", "128Mi", map[string]string{"tmp": "16Mi"}},
	}
	for _, tt := range tests {
		w := m.Find(t, tt.typ, tt.name)
		expectString(t, w, container+`.resources.requests["ephemeral-storage"]`, tt.request)
		expectString(t, w, container+`.resources.limits["ephemeral-storage"]`, tt.limit)
		sizes := map[string]string{}
		for i := range w.Len(podSpec + ".volumes") {
			v := podSpec + ".volumes[" + strconv.Itoa(i) + "]"
			if _, ok := w.Get(v + ".emptyDir"); ok {
				sizes[w.String(v+".name")] = w.String(v + ".emptyDir.sizeLimit")
			}
		}
		if !maps.Equal(sizes, tt.emptyDirs) {
			t.Errorf("%s: emptyDir sizeLimits %v, want %v", tt.name, sizes, tt.emptyDirs)
		}
	}
}
