package logging

import (
	"testing"

	"github.com/nexios-labs/nexios-k8s/internal/servicecheck"
)

// TestServicesSkipTheProviderAwaitOnlyWhereProved: Elasticsearch's discovery and client Services and
// Kibana's select their workloads' pods and route to their ports, checked on the rendered objects
// apart from the construction-time proof.
func TestServicesSkipTheProviderAwaitOnlyWhereProved(t *testing.T) {
	for _, tt := range []struct {
		name string
		args LoggingArgs
	}{{"dev", devArgs()}, {"prod", prodArgs()}} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			if n := servicecheck.Services(t, m); n != 3 {
				t.Errorf("%d Services, want 3", n)
			}
		})
	}
}
