package monitoring

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

func TestGrafanaDatasources(t *testing.T) {
	logs := &LogsDatasource{URL: "https://es:9200", Index: "nexios-logs", User: "grafana_reader", CACertificate: esCA}
	for _, tt := range []struct {
		name string
		logs *LogsDatasource
		want int
	}{{"prometheus only", nil, 1}, {"with logs", logs, 2}} {
		raw, err := GrafanaDatasources("http://prom:9090", tt.logs)
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
	if _, err := GrafanaDatasources("", nil); err == nil {
		t.Error("no Prometheus URL: no error")
	}
	if _, err := GrafanaDatasources("http://prom:9090", &LogsDatasource{URL: "https://es:9200", Index: "nexios-logs"}); err == nil {
		t.Error("Elasticsearch without a user and CA: no error")
	}
}

// Grafana logs in to Elasticsearch as the reader, with the password from its environment and the
// logging stack's CA, read back from the rendered file as Grafana's provisioning would read it.
func TestElasticsearchDatasourceAuthenticatesAndVerifies(t *testing.T) {
	raw, err := GrafanaDatasources("http://prom:9090", &LogsDatasource{URL: "https://es:9200", Index: "nexios-logs", User: "grafana_reader", CACertificate: esCA})
	if err != nil {
		t.Fatal(err)
	}
	var f datasourceFile
	if err := yaml.Unmarshal([]byte(raw), &f); err != nil {
		t.Fatal(err)
	}
	es := f.Datasources[1]
	if es.Type != "elasticsearch" || !es.BasicAuth || es.BasicAuthUser != "grafana_reader" {
		t.Errorf("datasource %+v, want basic auth as grafana_reader", es)
	}
	if es.JSONData["tlsAuthWithCACert"] != true || es.JSONData["index"] != "nexios-logs" {
		t.Errorf("jsonData %v, want the CA verified and the index", es.JSONData)
	}
	if es.SecureJSONData["basicAuthPassword"] != "${ELASTICSEARCH_PASSWORD}" {
		t.Errorf("password %q, want the environment reference", es.SecureJSONData["basicAuthPassword"])
	}
	if es.SecureJSONData["tlsCACert"] != esCA {
		t.Errorf("tlsCACert %q, want the CA's PEM verbatim", es.SecureJSONData["tlsCACert"])
	}
	if _, skip := es.JSONData["tlsSkipVerify"]; skip {
		t.Error("TLS verification is skipped")
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
	if !strings.Contains(ds, "http://mon-prometheus.monitoring.svc.cluster.local:9090") || !strings.Contains(ds, "type: elasticsearch") {
		t.Errorf("datasources:\n%s", ds)
	}
	dashboards := m.Find(t, tConfigMap, "mon-grafana-dashboards")
	if dashboards.String(`data["nexios.json"]`) == "" || dashboards.String(`data["monitoring.json"]`) == "" {
		t.Error("dashboards are missing")
	}
	in := m.Find(t, tIngress, "mon-grafana")
	expectString(t, in, "spec.rules[0].host", "grafana.example.com")
}

// The reader's password lives in a Secret of Grafana's namespace and reaches Grafana through its
// environment; the provisioning ConfigMap holds only the reference and the public CA.
func TestGrafanaElasticsearchCredentials(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	secret := m.Find(t, tSecret, "mon-grafana-elasticsearch")
	key := `stringData["` + grafanaESPasswordKey + `"]`
	if secret.String(key) != esReaderPassword || !secret.IsSecret(key) {
		t.Error("the reader password is not in the Secret, or not secret")
	}
	expectString(t, secret, "metadata.namespace", "monitoring")
	d := m.Find(t, tDeployment, "mon-grafana")
	found := false
	for i := range d.Len(container + ".env") {
		env := container + ".env[" + strconv.Itoa(i) + "]"
		if d.String(env+".name") == "ELASTICSEARCH_PASSWORD" {
			found = true
			expectString(t, d, env+".valueFrom.secretKeyRef.name", "mon-grafana-elasticsearch-abc123")
			expectString(t, d, env+".valueFrom.secretKeyRef.key", grafanaESPasswordKey)
			if _, plain := d.Get(env + ".value"); plain {
				t.Error("ELASTICSEARCH_PASSWORD has a literal value")
			}
		}
	}
	if !found {
		t.Error("ELASTICSEARCH_PASSWORD is not set from the Secret")
	}
	ds := m.Find(t, tConfigMap, "mon-grafana-provisioning").String(`data["datasources.yaml"]`)
	for _, want := range []string{"basicAuthUser: grafana_reader", "basicAuthPassword: ${ELASTICSEARCH_PASSWORD}", "tlsAuthWithCACert: true", "MIIBlogging"} {
		if !strings.Contains(ds, want) {
			t.Errorf("datasources lack %q:\n%s", want, ds)
		}
	}
	if strings.Contains(ds, esReaderPassword) {
		t.Error("the provisioning ConfigMap holds the reader's password")
	}
	if !d.IsSecret(`spec.template.metadata.annotations["checksum/config"]`) {
		t.Error("Grafana's checksum does not cover the secrets")
	}

	rotated := prodArgs()
	rotated.Grafana.ElasticsearchPassword = pulumi.ToSecret(pulumi.String("es-reader-2")).(pulumi.StringOutput)
	m2, _ := deploy(t, rotated)
	if m2.Find(t, tDeployment, "mon-grafana").String(`spec.template.metadata.annotations["checksum/config"]`) ==
		d.String(`spec.template.metadata.annotations["checksum/config"]`) {
		t.Error("a new reader password does not roll Grafana")
	}

	// Without logs: no Secret, no variable.
	m, _ = deploy(t, devArgs())
	if m.Has(tSecret, "mon-grafana-elasticsearch") {
		t.Error("a reader Secret without an Elasticsearch datasource")
	}
}

func TestElasticsearchDatasourceNeedsItsCredentials(t *testing.T) {
	args := prodArgs()
	args.Grafana.ElasticsearchCA = nil
	mocktest.ExpectRejected(t, func(ctx *pulumi.Context) (*Monitoring, error) { return NewMonitoring(ctx, "mon", &args) },
		"user, password and CA certificate come together")
}
