package monitoring

import (
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/components/appmetrics"
)

func TestDefaults(t *testing.T) {
	a := MonitoringArgs{}.withDefaults()
	if a.Mode != Bundled || a.App.Name != "nexios" || a.Prometheus.Retention != "15d" || a.Alertmanager.Replicas != 1 || a.Adapter.Replicas != 1 {
		t.Errorf("defaults %+v", a)
	}
	if a.Prometheus.Resources != defaultPrometheusResources || a.KubeStateMetrics != defaultSmallResources {
		t.Errorf("default resources %+v", a)
	}
	set := devArgs()
	set.Prometheus.Retention = "30d"
	if got := set.withDefaults().Prometheus.Retention; got != "30d" {
		t.Errorf("a set retention became %s", got)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	a := devArgs()
	a.Mode = "sidecar"
	a.Prometheus.Retention = "two days"
	a.Alerts.ErrorRatePercent = 0
	a.Grafana.AdminPassword = nil
	a.ScalingMetrics = []ScalingTarget{{Target: "50"}}
	err := a.withDefaults().validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`mode "sidecar"`, `retention "two days"`, "alerts:", "scaling metrics:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	noPassword := devArgs()
	noPassword.Grafana.AdminPassword = nil
	if err := noPassword.withDefaults().validate(); err == nil || !strings.Contains(err.Error(), "admin password") {
		t.Errorf("bundled mode without a Grafana password: %v", err)
	}
	if err := devArgs().withDefaults().validate(); err != nil {
		t.Errorf("dev args: %v", err)
	}
}

// validate checks each scaling metric itself, so a stack's own metric passes like a built-in one, and
// a metric whose query would record something other than one series per pod of the app is refused.
func TestValidateScalingMetrics(t *testing.T) {
	declared, err := appmetrics.Define("work_requests_per_second", appmetrics.Definition{
		Query: `sum by (namespace, pod) (rate(` + appmetrics.RequestsTotal + `{$app, path="/work"}[2m]))`,
	})
	if err != nil {
		t.Fatal(err)
	}
	a := prodArgs()
	a.ScalingMetrics = append(a.ScalingMetrics, ScalingTarget{Metric: declared, Target: "20"})
	if err := a.withDefaults().validate(); err != nil {
		t.Errorf("a declared metric beside the built-in one: %v", err)
	}
	unchecked := declared
	unchecked.Query = `sum by (namespace, pod) (rate(` + appmetrics.RequestsTotal + `{path="/work"}[2m]))`
	a.ScalingMetrics = []ScalingTarget{{Metric: unchecked, Target: "20"}}
	if err := a.withDefaults().validate(); err == nil || !strings.Contains(err.Error(), "does not contain $app") {
		t.Errorf("a query reading every app's series: %v", err)
	}
}
