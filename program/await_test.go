package program

import (
	"testing"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
	"github.com/nexios-labs/nexios-k8s/internal/servicecheck"
)

// TestNoServiceWaitsOnTheProviderSettle guards issue 12's gain without timing anything: every
// ClusterIP and headless Service the dev and prod stacks create carries pulumi.com/skipAwait, so none
// waits the provider's fixed 10-second endpoint settle, and each is one the program proved: it
// selects a Deployment's or StatefulSet's pods in its namespace and routes to their ports, and that
// workload keeps its own await (servicecheck.Services). A LoadBalancer app Service keeps the await.
func TestNoServiceWaitsOnTheProviderSettle(t *testing.T) {
	loadBalancer := devConfig(t)
	loadBalancer.Values["nexios:app"] = `{"image": "ghcr.io/acme/nexios:1.0.0", "service": {"type": "LoadBalancer"}}`
	for _, tt := range []struct {
		stack, name string
		cfg         func() mocktest.Config
		// services: the app's, Prometheus' two, Grafana's and Alertmanager's peers'; dev adds the
		// in-cluster PostgreSQL's two, prod Elasticsearch's two and Kibana's.
		services int
		awaited  string
	}{
		{"dev", "dev", func() mocktest.Config { return devConfig(t) }, 7, ""},
		{"prod", "prod", func() mocktest.Config { return prodConfig(t) }, 8, ""},
		{"dev", "dev with a LoadBalancer", func() mocktest.Config { return loadBalancer }, 7, "nexios-service"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, _, err := run(t, tt.stack, tt.cfg())
			if err != nil {
				t.Fatalf("program: %v", err)
			}
			if n := servicecheck.Services(t, m); n != tt.services {
				t.Errorf("%d Services, want %d", n, tt.services)
			}
			for _, s := range m.OfType(servicecheck.TypeService) {
				skips := s.String(`metadata.annotations["`+kube.AnnotationSkipAwait+`"]`) == "true"
				if want := s.Name != tt.awaited; skips != want {
					t.Errorf("Service %s (type %q): skips the provider's await: %v, want %v", s.Name, s.String("spec.type"), skips, want)
				}
			}
		})
	}
}
