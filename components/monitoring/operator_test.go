package monitoring

import (
	"testing"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

// Operator mode deploys no workload: a ServiceMonitor and a PrometheusRule in the app's namespace.
func TestOperatorMode(t *testing.T) {
	a := prodArgs()
	a.Mode = Operator
	a.Grafana.AdminPassword = nil
	m, mon := deploy(t, a)
	for _, typ := range []string{tNamespace, tDeployment, tStatefulSet, tAPIService} {
		if n := len(m.OfType(typ)); n != 0 {
			t.Errorf("operator mode registered %d %s", n, typ)
		}
	}
	sm := m.Find(t, tServiceMonitor, "mon-servicemonitor")
	expectString(t, sm, "metadata.namespace", "nexios-prod")
	expectNumber(t, sm, "spec.endpoints[0].targetPort", 8000)
	expectString(t, sm, "spec.endpoints[0].path", "/metrics")
	expectString(t, sm, `spec.selector.matchLabels["app.kubernetes.io/name"]`, "nexios")
	rule := m.Find(t, tPrometheusRule, "mon-prometheusrule")
	expectString(t, rule, "spec.groups[0].rules[0].record", "http_requests_per_second")
	if n := rule.Len("spec.groups"); n != 3 {
		t.Errorf("PrometheusRule has %d groups, want the bundled 3", n)
	}
	if url, _ := mocktest.Await(t, mon.PrometheusURL); url != "" {
		t.Errorf("operator mode exports a Prometheus URL %q", url)
	}
}
