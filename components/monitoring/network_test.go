package monitoring

import "testing"

// Ingress is denied by default; Prometheus admits only Grafana and the adapter; the metrics ports
// admit only Prometheus; Grafana admits the ingress controller only with an ingress.
func TestNetworkPolicies(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	deny := m.Find(t, tNetPol, "mon-default-deny")
	if n := deny.Len("spec.podSelector"); n != 0 {
		t.Errorf("default deny selects %d labels, want every pod", n)
	}
	prom := m.Find(t, tNetPol, "mon-prometheus-allow")
	expectString(t, prom, `spec.ingress[0].from[0].podSelector.matchLabels["app.kubernetes.io/name"]`, nameGrafana)
	expectString(t, prom, `spec.ingress[0].from[1].podSelector.matchLabels["app.kubernetes.io/name"]`, nameAdapter)
	expectNumber(t, prom, "spec.ingress[0].ports[0].port", prometheusPort)
	if n := prom.Len("spec.ingress[0].from"); n != 2 {
		t.Errorf("Prometheus admits %d peers, want Grafana and the adapter", n)
	}
	for _, name := range []string{"mon-kube-state-metrics-allow", "mon-alertmanager-allow"} {
		expectString(t, m.Find(t, tNetPol, name), `spec.ingress[0].from[0].podSelector.matchLabels["app.kubernetes.io/name"]`, namePrometheus)
	}
	grafana := m.Find(t, tNetPol, "mon-grafana-allow")
	expectString(t, grafana, `spec.ingress[1].from[0].namespaceSelector.matchLabels["kubernetes.io/metadata.name"]`, "ingress-nginx")

	m, _ = deploy(t, devArgs())
	if n := m.Find(t, tNetPol, "mon-grafana-allow").Len("spec.ingress"); n != 1 {
		t.Errorf("Grafana without an ingress admits %d rules, want Prometheus' only", n)
	}
}

// Grafana reaches Elasticsearch in the logging namespace: no policy here may restrict egress (the
// logging namespace's policy is what limits who reaches Elasticsearch).
func TestNetworkPoliciesLeaveEgressOpen(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	for _, p := range m.OfType(tNetPol) {
		if n := p.Len("spec.policyTypes"); n != 1 || p.String("spec.policyTypes[0]") != "Ingress" {
			t.Errorf("%s has %d policy types (first %q), want Ingress only", p.Name, n, p.String("spec.policyTypes[0]"))
		}
		if p.Len("spec.egress") != 0 {
			t.Errorf("%s has egress rules", p.Name)
		}
	}
}
