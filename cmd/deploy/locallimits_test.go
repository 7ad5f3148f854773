package main

import (
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/stacks"
)

func TestLocalClusterLimits(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *stacks.Config)
		want   []string
	}{
		{"dev as it is", func(c *stacks.Config) {}, nil},
		{"an app ingress", func(c *stacks.Config) {
			c.App.Ingress.Enabled, c.App.Ingress.Host = true, "nexios.example.com"
		}, []string{"app.ingress (host nexios.example.com, class nginx)", "--path 'nexios:app.ingress.enabled' false -s prod"}},
		{"a load balancer", func(c *stacks.Config) { c.App.Service.Type = "LoadBalancer" }, []string{"app.service.type LoadBalancer"}},
		{"Grafana and Kibana ingresses", func(c *stacks.Config) {
			c.Monitoring.Grafana.IngressHost = "grafana.example.com"
			c.Logging.Enabled, c.Logging.Kibana.IngressHost = true, "logs.example.com"
		}, []string{"monitoring.grafana.ingressHost (grafana.example.com)", "logging.kibana.ingressHost (logs.example.com)"}},
		{"a Kibana host with logging off needs nothing", func(c *stacks.Config) {
			c.Logging.Enabled, c.Logging.Kibana.IngressHost = false, "logs.example.com"
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := stacks.Defaults(stacks.Dev, "prod")
			if err != nil {
				t.Fatal(err)
			}
			cfg.App.Ingress.ClassName = "nginx"
			tt.change(&cfg)
			limits := localClusterLimits(&cfg, "prod")
			joined := strings.Join(limits, "\n")
			if len(tt.want) == 0 && len(limits) != 0 {
				t.Errorf("limits %q, want none", limits)
			}
			for _, want := range tt.want {
				if !strings.Contains(joined, want) {
					t.Errorf("limits %q lack %q", limits, want)
				}
			}
		})
	}
}

func TestLocalClusterErrorNamesTheWayOut(t *testing.T) {
	err := localClusterError("prod", []string{"app.ingress needs an ingress controller"})
	for _, want := range []string{`stack "prod"`, "nothing was changed", "app.ingress", "Pulumi.prod-local.yaml", "--cluster kubeconfig"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
