package monitoring

import (
	"strings"
	"testing"
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
