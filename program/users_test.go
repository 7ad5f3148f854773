package program

import (
	"maps"
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

const (
	tSecret      = "kubernetes:core/v1:Secret"
	tConfigMap   = "kubernetes:core/v1:ConfigMap"
	tNetPol      = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	tStatefulSet = "kubernetes:apps/v1:StatefulSet"
	tJob         = "kubernetes:batch/v1:Job"
)

// Each Elasticsearch client's user exists only where its stack runs: Fluent Bit's with logging,
// Grafana's with logging and a bundled Grafana.
func TestElasticsearchUsersFollowTheStacks(t *testing.T) {
	for _, tt := range []struct {
		name            string
		logging, monitg string
		writer, reader  bool
	}{
		{"monitoring only", `{"enabled": false}`, `{}`, false, false},
		{"logging only", `{"enabled": true}`, `{"enabled": false}`, true, false},
		{"logging and operator-mode monitoring", `{"enabled": true}`, `{"mode": "operator"}`, true, false},
		{"logging and monitoring", `{"enabled": true}`, `{}`, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := devConfig(t)
			cfg.Values["nexios:logging"] = tt.logging
			cfg.Values["nexios:monitoring"] = tt.monitg
			m, _, err := run(t, "dev", cfg)
			if err != nil {
				t.Fatalf("program: %v", err)
			}
			if got := m.Has(tPassword, "nexios-secrets-fluent-bit-writer"); got != tt.writer {
				t.Errorf("fluentbit_writer password generated: %v, want %v", got, tt.writer)
			}
			if got := m.Has(tPassword, "nexios-secrets-grafana-reader"); got != tt.reader {
				t.Errorf("grafana_reader password generated: %v, want %v", got, tt.reader)
			}
			if !tt.writer {
				return
			}
			script := m.Find(t, tConfigMap, "nexios-logging-setup").String(`data["setup.sh"]`)
			if !strings.Contains(script, "/_security/user/fluentbit_writer") {
				t.Error("the setup Job does not create fluentbit_writer")
			}
			if got := strings.Contains(script, "/_security/user/grafana_reader"); got != tt.reader {
				t.Errorf("the setup Job creates grafana_reader: %v, want %v", got, tt.reader)
			}
			if got := m.Has(tSecret, "nexios-monitoring-grafana-elasticsearch"); got != tt.reader {
				t.Errorf("Grafana's Elasticsearch Secret exists: %v, want %v", got, tt.reader)
			}
		})
	}
}

// With both stacks on, Grafana's datasource logs in as grafana_reader with the generated password from
// its own Secret, trusts the logging stack's CA, and the logging namespace admits exactly Grafana's pods.
func TestGrafanaReadsTheLogsAsItsOwnUser(t *testing.T) {
	m, _, err := run(t, "prod", prodConfig(t))
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	secret := m.Find(t, tSecret, "nexios-monitoring-grafana-elasticsearch")
	key := `stringData["elasticsearch-password"]`
	if got := secret.String(key); got != mocktest.GeneratedPassword("nexios-secrets-grafana-reader") || !secret.IsSecret(key) {
		t.Errorf("Grafana's Elasticsearch Secret holds %q (secret %v), want the generated reader password, secret", got, secret.IsSecret(key))
	}
	if got := secret.String("metadata.namespace"); got != "monitoring" {
		t.Errorf("the Secret is in %q, want Grafana's namespace", got)
	}
	creds := m.Find(t, tSecret, "nexios-logging-credentials")
	if got := creds.String(`stringData["grafana-reader-password"]`); got != mocktest.GeneratedPassword("nexios-secrets-grafana-reader") {
		t.Errorf("the setup Job's copy of the reader password is %q", got)
	}
	if got := creds.String(`stringData["fluent-bit-writer-password"]`); got != mocktest.GeneratedPassword("nexios-secrets-fluent-bit-writer") {
		t.Errorf("the writer password is %q", got)
	}

	datasources := m.Find(t, tConfigMap, "nexios-monitoring-grafana-provisioning").String(`data["datasources.yaml"]`)
	for _, want := range []string{"basicAuthUser: grafana_reader", "${ELASTICSEARCH_PASSWORD}", "tlsAuthWithCACert: true", "BEGIN CERTIFICATE"} {
		if !strings.Contains(datasources, want) {
			t.Errorf("Grafana's datasources lack %q:\n%s", want, datasources)
		}
	}
	// The datasource's CA is the one Elasticsearch's certificate comes from.
	ca := m.Find(t, tSecret, "nexios-logging-credentials").String(`stringData["ca.crt"]`)
	if ca == "" || !strings.Contains(datasources, strings.TrimSpace(strings.SplitN(ca, "\n", 3)[1])) {
		t.Error("Grafana does not trust the logging stack's CA")
	}

	grafanaPods := m.Find(t, tDeployment, "nexios-monitoring-grafana")
	policy := m.Find(t, tNetPol, "nexios-logging-netpol-elasticsearch")
	peer := "spec.ingress[0].from[3]"
	if got := policy.String(peer + `.namespaceSelector.matchLabels["` + kube.LabelNamespaceName + `"]`); got != "monitoring" {
		t.Errorf("Elasticsearch admits namespace %q, want monitoring", got)
	}
	want := map[string]string{}
	for _, label := range []string{kube.LabelName, kube.LabelInstance} {
		want[label] = grafanaPods.String(`spec.selector.matchLabels["` + label + `"]`)
	}
	got := map[string]string{}
	for _, label := range []string{kube.LabelName, kube.LabelInstance} {
		got[label] = policy.String(peer + `.podSelector.matchLabels["` + label + `"]`)
	}
	if !maps.Equal(got, want) || policy.Len(peer+".podSelector.matchLabels") != grafanaPods.Len("spec.selector.matchLabels") {
		t.Errorf("Elasticsearch admits pods %v, want Grafana's %v", got, want)
	}
	if got := policy.Number("spec.ingress[0].ports[0].port"); got != 9200 {
		t.Errorf("Grafana is admitted to port %v, want the client port", got)
	}
}

// secrets.rotation.elasticPassword regenerates the admin password and its hash, which restarts the
// Elasticsearch pods with the new file realm and re-runs the setup Job; the file realm carries the
// generated hash, never the password.
func TestAdminPasswordRotationRollsElasticsearch(t *testing.T) {
	const sum = `spec.template.metadata.annotations["checksum/config"]`
	deployWith := func(rotation string) (es, job string) {
		cfg := devConfig(t)
		cfg.Values["nexios:logging"] = `{"enabled": true}`
		cfg.Values["nexios:secrets"] = `{"rotation":{"elasticPassword":"` + rotation + `"}}`
		m, _, err := run(t, "dev", cfg)
		if err != nil {
			t.Fatalf("program: %v", err)
		}
		password := mocktest.RotatedPassword("nexios-secrets-elastic", rotation)
		realm := m.Find(t, tSecret, "nexios-logging-es-file-realm")
		if got, want := realm.String(`stringData["users"]`), "nexios_admin:"+mocktest.BcryptHash(password)+"\n"; got != want {
			t.Errorf("users = %q, want %q", got, want)
		}
		if strings.Contains(realm.String(`stringData["users"]`), password) || !realm.IsSecret("stringData") {
			t.Error("the file realm carries the plain password or is not secret")
		}
		if got := m.Find(t, tSecret, "nexios-logging-credentials").String(`stringData["admin-password"]`); got != password {
			t.Errorf("admin-password = %q, want %q", got, password)
		}
		return m.Find(t, tStatefulSet, "nexios-logging-es").String(sum), m.Find(t, tJob, "nexios-logging-setup").String(sum)
	}
	es, job := deployWith("")
	rotatedES, rotatedJob := deployWith("2027-04")
	if es == "" || rotatedES == es {
		t.Errorf("Elasticsearch checksum %q -> %q: the rotation does not restart the pods", es, rotatedES)
	}
	if job == "" || rotatedJob == job {
		t.Errorf("Job checksum %q -> %q: the rotation does not re-run the Job", job, rotatedJob)
	}
}
