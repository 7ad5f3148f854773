package monitoring

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestGrafanaDatasources(t *testing.T) {
	for _, tt := range []struct {
		name, es string
		want     int
	}{{"prometheus only", "", 1}, {"with logs", "https://es:9200", 2}} {
		raw, err := GrafanaDatasources("http://prom:9090", tt.es, "nexios-logs")
		if err != nil {
			t.Fatal(err)
		}
		var f datasourceFile
		if err := yaml.Unmarshal([]byte(raw), &f); err != nil {
			t.Fatal(err)
		}
		if len(f.Datasources) != tt.want || !f.Datasources[0].IsDefault || f.Datasources[0].UID != prometheusDatasourceUID {
			t.Errorf("%s: datasources %+v", tt.name, f.Datasources)
		}
	}
	if _, err := GrafanaDatasources("", "", ""); err == nil {
		t.Error("no Prometheus URL: no error")
	}
}

// The admin password comes from a Secret through secretKeyRef; the datasources and dashboards are
// provisioned; the ingress exists only with a host.
func TestGrafanaDeployment(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	secret := m.Find(t, tSecret, "mon-grafana-admin")
	if secret.String(`stringData["admin-password"]`) != "grafana-pw" || !secret.IsSecret(`stringData["admin-password"]`) {
		t.Error("the admin password is not in the Secret, or not secret")
	}
	d := m.Find(t, tDeployment, "mon-grafana")
	found := false
	for i := range d.Len(container + ".env") {
		env := container + ".env[" + string(rune('0'+i)) + "]"
		if d.String(env+".name") == "GF_SECURITY_ADMIN_PASSWORD" {
			found = true
			expectString(t, d, env+".valueFrom.secretKeyRef.name", "mon-grafana-admin-abc123")
			expectString(t, d, env+".valueFrom.secretKeyRef.key", grafanaPasswordKey)
		}
	}
	if !found {
		t.Error("GF_SECURITY_ADMIN_PASSWORD is not set from the Secret")
	}
	provisioning := m.Find(t, tConfigMap, "mon-grafana-provisioning")
	ds := provisioning.String(`data["datasources.yaml"]`)
	if !strings.Contains(ds, "http://mon-prometheus-abc123.monitoring.svc.cluster.local:9090") || !strings.Contains(ds, "type: elasticsearch") {
		t.Errorf("datasources:\n%s", ds)
	}
	dashboards := m.Find(t, tConfigMap, "mon-grafana-dashboards")
	if dashboards.String(`data["nexios.json"]`) == "" || dashboards.String(`data["monitoring.json"]`) == "" {
		t.Error("dashboards are missing")
	}
	in := m.Find(t, tIngress, "mon-grafana")
	expectString(t, in, "spec.rules[0].host", "grafana.example.com")
}
