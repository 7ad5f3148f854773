package monitoring

import (
	"testing"

	"github.com/nexios-labs/nexios-k8s/internal/servicecheck"
)

// TestServicesSkipTheProviderAwaitOnlyWhereProved: every Service of the stack (Prometheus' two,
// Grafana's, the peers' of Alertmanager, and the adapter's in prod) selects its workload's pods and
// routes to their ports, checked on the rendered objects apart from the construction-time proof.
func TestServicesSkipTheProviderAwaitOnlyWhereProved(t *testing.T) {
	for _, tt := range []struct {
		name     string
		args     MonitoringArgs
		services int
	}{
		{"dev", devArgs(), 4},
		{"prod", prodArgs(), 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			if n := servicecheck.Services(t, m); n != tt.services {
				t.Errorf("%d Services, want %d", n, tt.services)
			}
		})
	}
}
