package program

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

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
		args, err := monitoringArgs(&cfg, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
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
// rule, the adapter's rule, the at-max alert and the dashboard panel, all for the same series.
func TestScalingMetricDeclaredOnce(t *testing.T) {
	const metric = "http_requests_per_second"
	cfg := config(t, map[string]any{
		"nexios:app": map[string]any{
			"image":       "ghcr.io/acme/nexios:1.0.0",
			"autoscaling": map[string]any{"customMetrics": map[string]any{metric: 50}},
		},
		"nexios:databaseUrl": databaseURL,
	}, "nexios:databaseUrl")
	m, _, err := run(t, "prod", cfg)
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	hpa := m.Find(t, tHPA, "nexios-hpa")
	var hpaMetric, hpaTarget string
	for i := range hpa.Len("spec.metrics") {
		if name := hpa.String(fmt.Sprintf("spec.metrics[%d].pods.metric.name", i)); name != "" {
			hpaMetric, hpaTarget = name, hpa.String(fmt.Sprintf("spec.metrics[%d].pods.target.averageValue", i))
		}
	}
	if hpaMetric != metric || hpaTarget != "50" {
		t.Fatalf("HPA pods metric %q target %q, want %s 50", hpaMetric, hpaTarget, metric)
	}
	rules := m.Find(t, "kubernetes:core/v1:ConfigMap", "nexios-monitoring-prometheus-rules").String(`data["nexios.rules.yaml"]`)
	for _, want := range []string{
		"record: " + metric,
		`expr: sum by (namespace, pod) (rate(http_requests_total{job="nexios", namespace="nexios-prod"}[2m]))`,
		"metric: " + metric,
		`metric_name="` + metric + `"`,
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("rule file lacks %s:\n%s", want, rules)
		}
	}
	adapter := m.Find(t, "kubernetes:core/v1:ConfigMap", "nexios-monitoring-adapter-config").String(`data["config.yaml"]`)
	for _, want := range []string{`seriesQuery: ` + metric + `{namespace="nexios-prod",pod!=""}`, "as: " + metric} {
		if !strings.Contains(adapter, want) {
			t.Errorf("adapter config lacks %s:\n%s", want, adapter)
		}
	}
	dashboard := m.Find(t, "kubernetes:core/v1:ConfigMap", "nexios-monitoring-grafana-dashboards").String(`data["nexios.json"]`)
	if !strings.Contains(dashboard, `"expr": "`+metric+`{namespace=\"nexios-prod\"}"`) || !strings.Contains(dashboard, `metric_name=\"`+metric+`\"`) {
		t.Errorf("dashboard lacks the %s panel with the HPA's target", metric)
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
		ExportPrometheusURL:       "http://nexios-monitoring-prometheus-abc123.monitoring.svc.cluster.local:9090",
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
