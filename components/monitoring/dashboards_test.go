package monitoring

import (
	"encoding/json"
	"strings"
	"testing"
)

// panelTitles decodes a rendered dashboard into its panel titles and every query.
func panelTitles(t *testing.T, raw string) (titles []string, exprs string) {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	for _, p := range d.Panels {
		titles = append(titles, p.Title)
		for _, q := range p.Targets {
			exprs += q.Expr + "\n"
		}
	}
	return titles, exprs
}

func TestAppDashboard(t *testing.T) {
	s := DashboardSettings{AppJob: "nexios", AppNamespace: "nexios-prod", Deployment: "nexios-deployment-1a2b", Autoscaled: true, ScalingMetrics: scalingTargets(t)}
	raw, err := AppDashboard(s)
	if err != nil {
		t.Fatal(err)
	}
	titles, exprs := panelTitles(t, raw)
	joined := strings.Join(titles, "|")
	for _, want := range []string{"Request rate by status", "5xx ratio", "Latency percentiles", "Replicas", "CPU against requests and limits", "Memory against requests and limits", "http_requests_per_second"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no panel %q in %v", want, titles)
		}
	}
	for _, want := range []string{"histogram_quantile(0.95", "kube_horizontalpodautoscaler_spec_max_replicas", `resource="memory"`, `pod=~"nexios-deployment-1a2b-[a-z0-9]+-[a-z0-9]+"`} {
		if !strings.Contains(exprs, want) {
			t.Errorf("no query with %s", want)
		}
	}
	s.Autoscaled, s.ScalingMetrics = false, nil
	raw, _ = AppDashboard(s)
	if _, exprs := panelTitles(t, raw); strings.Contains(exprs, "horizontalpodautoscaler") {
		t.Error("a dashboard without an HPA shows HPA series")
	}
	if _, err := AppDashboard(DashboardSettings{}); err == nil {
		t.Error("empty settings: no error")
	}
}

func TestStackDashboard(t *testing.T) {
	raw, err := StackDashboard(DashboardSettings{MonitoringNamespace: "monitoring"})
	if err != nil {
		t.Fatal(err)
	}
	if titles, _ := panelTitles(t, raw); len(titles) < 6 {
		t.Errorf("stack dashboard panels %v", titles)
	}
}
