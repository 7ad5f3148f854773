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
	}{
		{"dev: no ingress, no monitoring", devArgs(), []string{"logs-netpol-deny-all", "logs-netpol-elasticsearch"}},
		{"prod", prodArgs(), []string{"logs-netpol-deny-all", "logs-netpol-elasticsearch", "logs-netpol-fluent-bit", "logs-netpol-kibana"}},
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
			if !slices.Equal(from, []string{partFluentBit, partKibana, partSetup}) {
				t.Errorf("client port open to %v, want only Fluent Bit, Kibana and the setup Job", from)
			}
			if es.Number("spec.ingress[1].ports[0].port") != esTransportPort ||
				es.String(`spec.ingress[1].from[0].podSelector.matchLabels["`+kube.LabelName+`"]`) != partElasticsearch {
				t.Error("transport port not limited to Elasticsearch nodes")
			}
		})
	}
}
