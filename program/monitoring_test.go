package program

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/components/monitoring"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// The local cluster's default node (mk/cluster.mk): dev's monitoring stack must fit on one, beside the app.
const (
	nodeCPU    = 4
	nodeMemory = 16 << 30
)

// The README's monitoring sizing rows are computed from each environment's profile through the same
// mapping and defaults the program deploys; a profile change not reflected there fails here, printing
// the rows to paste.
func TestREADMEMonitoringSizingIsMeasured(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatalf("reading README.md: %v", err)
	}
	for _, env := range []stacks.Environment{stacks.Dev, stacks.Prod} {
		cfg, err := stacks.Defaults(env, string(env))
		if err != nil {
			t.Fatal(err)
		}
		scaling, err := scalingTargets(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		args := monitoringArgs(&cfg, scaling, nil, nil, nil)
		s, err := monitoring.SizingOf(*args)
		if err != nil {
			t.Fatalf("%s sizing: %v", env, err)
		}
		cells := map[string]string{}
		for _, w := range s {
			cells[w.Name] = fmt.Sprintf("%d × %s", w.Replicas, monitoring.FormatRequests(w.CPU/float64(w.Replicas), w.Memory/float64(w.Replicas)))
		}
		row := "| " + string(env) + " |"
		for _, column := range []string{"prometheus", "alertmanager", "kube-state-metrics", "grafana", "prometheus-adapter"} {
			cell, ok := cells[column]
			if !ok {
				cell = "none"
			}
			row += " " + cell + " |"
		}
		cpu, memory := s.Total()
		row += " " + monitoring.FormatRequests(cpu, memory) + " |"
		if !strings.Contains(string(raw), row+"\n") {
			t.Errorf("README.md lacks the measured monitoring sizing row for %s:\n%s", env, row)
		}
		if env != stacks.Dev {
			continue
		}
		appCPU, err := kube.ParseQuantity(cfg.App.Resources.Requests.CPU)
		if err != nil {
			t.Fatal(err)
		}
		appMemory, err := kube.ParseQuantity(cfg.App.Resources.Requests.Memory)
		if err != nil {
			t.Fatal(err)
		}
		replicas := float64(cfg.App.Replicas)
		if cpu+appCPU*replicas > nodeCPU || memory+appMemory*replicas > nodeMemory {
			t.Errorf("dev monitoring (%s) and the app do not fit one %d-CPU, 16Gi node", monitoring.FormatRequests(cpu, memory), nodeCPU)
		}
	}
}

// One declaration in app.autoscaling.customMetrics yields the HPA's metric, Prometheus' recording
// rule, the adapter's rule, the at-max alert and the dashboard panel, all for the same series: for a
// built-in metric, and for one the stack defines itself, whose query gets the app's matchers for $app.
func TestScalingMetricDeclaredOnce(t *testing.T) {
	tests := []struct {
		name        string
		metric      string
		autoscaling map[string]any
		target      string
		// expr is the recording rule's expression; title and unit the panel's.
		expr, title, unit string
	}{
		{
			name:        "built in",
			metric:      "http_requests_per_second",
			autoscaling: map[string]any{"customMetrics": map[string]any{"http_requests_per_second": 50}},
			target:      "50",
			expr:        `sum by (namespace, pod) (rate(http_requests_total{job="nexios", namespace="nexios-prod"}[2m]))`,
			title:       "Requests per second per pod (http_requests_per_second) against the HPA target",
			unit:        "reqps",
		},
		{
			name:   "declared by the stack",
			metric: "work_requests_per_second",
			autoscaling: map[string]any{
				"customMetrics": map[string]any{"work_requests_per_second": 20},
				"metricDefinitions": map[string]any{"work_requests_per_second": map[string]any{
					"query": `sum by (namespace, pod) (rate(http_requests_total{$app, path="/work"}[2m]))`,
					"title": "/work requests per second per pod",
				}},
			},
			target: "20",
			expr:   `sum by (namespace, pod) (rate(http_requests_total{job="nexios", namespace="nexios-prod", path="/work"}[2m]))`,
			title:  "/work requests per second per pod (work_requests_per_second) against the HPA target",
			// The unit left out defaults to a plain number.
			unit: "short",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mocktest.NewConfig(t, map[string]any{
				"nexios:app":         map[string]any{"image": "ghcr.io/acme/nexios:1.0.0", "autoscaling": tt.autoscaling},
				"nexios:databaseUrl": databaseURL,
			}, "nexios:databaseUrl")
			m, _, err := run(t, "prod", cfg)
			if err != nil {
				t.Fatalf("program: %v", err)
			}
			metric := tt.metric

			hpa := m.Find(t, tHPA, "nexios-hpa")
			var hpaMetric, hpaTarget string
			for i := range hpa.Len("spec.metrics") {
				if name := hpa.String(fmt.Sprintf("spec.metrics[%d].pods.metric.name", i)); name != "" {
					hpaMetric, hpaTarget = name, hpa.String(fmt.Sprintf("spec.metrics[%d].pods.target.averageValue", i))
				}
			}
			if hpaMetric != metric || hpaTarget != tt.target {
				t.Errorf("HPA pods metric %q target %q, want %s %s", hpaMetric, hpaTarget, metric, tt.target)
			}

			var rules struct {
				Groups []struct {
					Rules []monitoring.Rule `yaml:"rules"`
				} `yaml:"groups"`
			}
			rulesFile := m.Find(t, "kubernetes:core/v1:ConfigMap", "nexios-monitoring-prometheus-rules").String(`data["nexios.rules.yaml"]`)
			if err := yaml.Unmarshal([]byte(rulesFile), &rules); err != nil {
				t.Fatalf("rule file: %v", err)
			}
			var recorded, alerted bool
			for _, g := range rules.Groups {
				for _, r := range g.Rules {
					if r.Record == metric {
						recorded = true
						if r.Expr != tt.expr {
							t.Errorf("recording rule %s:\n%s\nwant\n%s", metric, r.Expr, tt.expr)
						}
					}
					if r.Alert == "HPAAtMaxReplicas" && r.Labels["metric"] == metric {
						alerted = true
						for _, want := range []string{`avg by (namespace) (` + metric + `{namespace="nexios-prod"})`, `metric_name="` + metric + `"`} {
							if !strings.Contains(r.Expr, want) {
								t.Errorf("at-max alert lacks %s:\n%s", want, r.Expr)
							}
						}
					}
				}
			}
			if !recorded || !alerted {
				t.Errorf("rule file: recording rule %v, at-max alert %v for %s:\n%s", recorded, alerted, metric, rulesFile)
			}

			adapter := m.Find(t, "kubernetes:core/v1:ConfigMap", "nexios-monitoring-adapter-config").String(`data["config.yaml"]`)
			for _, want := range []string{`seriesQuery: ` + metric + `{namespace="nexios-prod",pod!=""}`, "as: " + metric} {
				if !strings.Contains(adapter, want) {
					t.Errorf("adapter config lacks %s:\n%s", want, adapter)
				}
			}

			type panel struct {
				Title       string `json:"title"`
				FieldConfig struct {
					Defaults struct {
						Unit string `json:"unit"`
					} `json:"defaults"`
				} `json:"fieldConfig"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			}
			var dashboard struct {
				Panels []panel `json:"panels"`
			}
			raw := m.Find(t, "kubernetes:core/v1:ConfigMap", "nexios-monitoring-grafana-dashboards").String(`data["nexios.json"]`)
			if err := json.Unmarshal([]byte(raw), &dashboard); err != nil {
				t.Fatalf("dashboard: %v", err)
			}
			i := slices.IndexFunc(dashboard.Panels, func(p panel) bool { return p.Title == tt.title })
			if i < 0 {
				t.Fatalf("no dashboard panel %q", tt.title)
			}
			scaling := dashboard.Panels[i]
			if scaling.FieldConfig.Defaults.Unit != tt.unit {
				t.Errorf("panel unit %q, want %q", scaling.FieldConfig.Defaults.Unit, tt.unit)
			}
			var exprs []string
			for _, q := range scaling.Targets {
				exprs = append(exprs, q.Expr)
			}
			joined := strings.Join(exprs, "\n")
			for _, want := range []string{metric + `{namespace="nexios-prod"}`, `metric_name="` + metric + `"`} {
				if !strings.Contains(joined, want) {
					t.Errorf("panel %q lacks %s:\n%s", tt.title, want, joined)
				}
			}
		})
	}
}

func TestMonitoringExports(t *testing.T) {
	cfg := prodConfig(t)
	cfg.Values["nexios:monitoring"] = `{"grafana": {"ingressHost": "grafana.example.com"}}`
	_, exports, err := run(t, "prod", cfg)
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	want := map[string]string{
		ExportMonitoringNamespace: "monitoring",
		ExportPrometheusURL:       "http://nexios-monitoring-prometheus.monitoring.svc.cluster.local:9090",
		ExportGrafanaURL:          "http://grafana.example.com",
	}
	expectExports(t, exports, want)
	off := devConfig(t)
	off.Values["nexios:monitoring"] = `{"enabled": false}`
	m, exports, err := run(t, "dev", off)
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	for _, key := range monitoringExports {
		if got, _ := mocktest.Await(t, pulumi.ToOutput(exports[key])); got != "" {
			t.Errorf("export %s = %v with monitoring off", key, got)
		}
	}
	if len(m.OfType("nexios:components:Monitoring")) != 0 {
		t.Error("a monitoring component in a stack with monitoring off")
	}
}
