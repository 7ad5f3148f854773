package app

import (
	"testing"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/servicecheck"
)

// TestServiceSkipsTheProviderAwaitOnlyWhereProved: the app's Service selects the Deployment's pods and
// routes to their named ports (checked on the rendered objects, apart from the proof NewApp makes), so
// it skips the provider's 10-second settle, unless it is a LoadBalancer, whose address is awaited.
func TestServiceSkipsTheProviderAwaitOnlyWhereProved(t *testing.T) {
	for _, tt := range []struct {
		name, serviceType string
		args              func() AppArgs
		skips             bool
	}{
		{"dev", "", devArgs, true},
		// prod: a separate metrics port, so the Service routes two named ports.
		{"prod", "", prodArgs, true},
		{"NodePort", "NodePort", devArgs, true},
		{"LoadBalancer", "LoadBalancer", devArgs, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args()
			if tt.serviceType != "" {
				args.Service = Service{Type: tt.serviceType, NodePort: 30080}
			}
			m, _ := deploy(t, args)
			if n := servicecheck.Services(t, m); n != 1 {
				t.Errorf("%d Services, want 1", n)
			}
			got := m.Find(t, tService, "web-service").String(`metadata.annotations["` + kube.AnnotationSkipAwait + `"]`)
			if (got == "true") != tt.skips {
				t.Errorf("%s = %q; want skipped: %v", kube.AnnotationSkipAwait, got, tt.skips)
			}
		})
	}
}
