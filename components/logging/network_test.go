package logging

import (
	"slices"
	"strconv"
	"testing"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

func TestNetworkPolicies(t *testing.T) {
	tests := []struct {
		name     string
		args     LoggingArgs
		policies []string
		grafana  bool
	}{
		{"dev: no ingress, no monitoring", devArgs(), []string{"logs-netpol-agents-deny-all", "logs-netpol-deny-all", "logs-netpol-elasticsearch"}, false},
		{"prod", prodArgs(), []string{"logs-netpol-agents-deny-all", "logs-netpol-deny-all", "logs-netpol-elasticsearch", "logs-netpol-fluent-bit", "logs-netpol-kibana"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			var names []string
			for _, r := range m.OfType(tNetPol) {
				names = append(names, r.Name)
			}
			if !slices.Equal(names, tt.policies) {
				t.Errorf("policies %v, want %v", names, tt.policies)
			}
			// Each namespace denies everything not allowed below.
			for name, namespace := range map[string]string{"logs-netpol-deny-all": "logging", "logs-netpol-agents-deny-all": "logging-agents"} {
				deny := m.Find(t, tNetPol, name)
				if deny.Len("spec.podSelector") != 0 || deny.Len("spec.ingress") != 0 {
					t.Errorf("%s selects some pods or allows something", name)
				}
				if got := deny.String("metadata.namespace"); got != namespace {
					t.Errorf("%s is in %q, want %q", name, got, namespace)
				}
			}
			es := m.Find(t, tNetPol, "logs-netpol-elasticsearch")
			client := "spec.ingress[0]"
			if es.Number(client+".ports[0].port") != esHTTPPort {
				t.Fatalf("first rule is not the client port")
			}
			var from []string
			for i := 0; i < es.Len(client+".from"); i++ {
				from = append(from, es.String(client+".from["+strconv.Itoa(i)+`].podSelector.matchLabels["`+kube.LabelName+`"]`))
			}
			want := []string{partFluentBit, partKibana, partSetup}
			if tt.grafana {
				want = append(want, "grafana")
			}
			if !slices.Equal(from, want) {
				t.Errorf("client port open to %v, want only %v", from, want)
			}
			// Fluent Bit's pods, only in Fluent Bit's namespace: one peer with both selectors.
			if got := es.String(client + `.from[0].namespaceSelector.matchLabels["` + kube.LabelNamespaceName + `"]`); got != "logging-agents" {
				t.Errorf("Fluent Bit's peer namespace = %q, want logging-agents", got)
			}
			for i := 1; i < 3; i++ {
				if es.Len(client+".from["+strconv.Itoa(i)+"].namespaceSelector") != 0 {
					t.Errorf("peer %d reaches in from another namespace", i)
				}
			}
			if tt.grafana {
				// One peer with both selectors: Grafana's pods, in the monitoring namespace only.
				g := client + ".from[3]"
				if got := es.String(g + `.namespaceSelector.matchLabels["` + kube.LabelNamespaceName + `"]`); got != "monitoring" {
					t.Errorf("Grafana's peer namespace = %q, want monitoring", got)
				}
				if got := es.String(g + `.podSelector.matchLabels["` + kube.LabelInstance + `"]`); got != "mon" || es.Len(g+".podSelector.matchLabels") != 2 {
					t.Errorf("Grafana's peer pods = %v, want the given selector", es.String(g+".podSelector"))
				}
			}
			if tt.grafana {
				// Monitoring scrapes Fluent Bit's metrics in Fluent Bit's namespace.
				fb := m.Find(t, tNetPol, "logs-netpol-fluent-bit")
				if fb.String("metadata.namespace") != "logging-agents" ||
					fb.String(`spec.podSelector.matchLabels["`+kube.LabelName+`"]`) != partFluentBit ||
					fb.String(`spec.ingress[0].from[0].namespaceSelector.matchLabels["`+kube.LabelNamespaceName+`"]`) != "monitoring" ||
					fb.Number("spec.ingress[0].ports[0].port") != fluentBitHTTPPort {
					t.Errorf("Fluent Bit's metrics policy %v, want monitoring to its port in logging-agents", fb.Inputs)
				}
			}
			if es.Number("spec.ingress[1].ports[0].port") != esTransportPort ||
				es.String(`spec.ingress[1].from[0].podSelector.matchLabels["`+kube.LabelName+`"]`) != partElasticsearch {
				t.Error("transport port not limited to Elasticsearch nodes")
			}
		})
	}
}
