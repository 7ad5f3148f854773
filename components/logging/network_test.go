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
		{"dev: no ingress, no monitoring", devArgs(), []string{"logs-netpol-deny-all", "logs-netpol-elasticsearch"}, false},
		{"prod", prodArgs(), []string{"logs-netpol-deny-all", "logs-netpol-elasticsearch", "logs-netpol-fluent-bit", "logs-netpol-kibana"}, true},
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
			deny := m.Find(t, tNetPol, "logs-netpol-deny-all")
			if deny.Len("spec.podSelector") != 0 || deny.Len("spec.ingress") != 0 {
				t.Error("the deny-all policy selects some pods or allows something")
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
			for i := range 3 {
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
			if es.Number("spec.ingress[1].ports[0].port") != esTransportPort ||
				es.String(`spec.ingress[1].from[0].podSelector.matchLabels["`+kube.LabelName+`"]`) != partElasticsearch {
				t.Error("transport port not limited to Elasticsearch nodes")
			}
		})
	}
}
