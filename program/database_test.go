package program

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

const tCronJob = "kubernetes:batch/v1:CronJob"

// The in-cluster PostgreSQL follows the stack: on in dev, where the app's Secret carries its URL (a
// secret pointing at its Service), off in prod, where the configured databaseUrl stays; backups follow
// postgres.backup (off in dev, on in prod once the server runs).
func TestDatabaseFollowsTheStack(t *testing.T) {
	// The mocked generator's password for the database (components/secrets names it so).
	generated := mocktest.GeneratedPassword("nexios-secrets-database")
	inCluster := func(ns string) string {
		return "postgresql://nexios:" + generated + "@nexios-postgres." + ns + ".svc:5432/nexios"
	}
	withPostgres := func(cfg mocktest.Config, postgres string) mocktest.Config {
		cfg.Values["nexios:postgres"] = postgres
		return cfg
	}
	prodWithPostgres := prodConfig(t)
	delete(prodWithPostgres.Values, "nexios:databaseUrl")
	prodWithPostgres = withPostgres(prodWithPostgres, `{"enabled": true, "storageClass": "fast-ssd"}`)
	tests := []struct {
		name, stack string
		cfg         mocktest.Config
		server      bool
		backup      bool
		url         string
	}{
		{"dev", "dev", devConfig(t), true, false, inCluster("nexios-dev")},
		{"dev with backups", "dev", withPostgres(devConfig(t), `{"backup": {"enabled": true, "retention": 5}}`), true, true, inCluster("nexios-dev")},
		{"dev without the server", "dev", withPostgres(devConfig(t), `{"enabled": false}`), false, false, "sqlite:////tmp/nexios.db"},
		{"prod", "prod", prodConfig(t), false, false, databaseURL},
		{"prod with the server", "prod", prodWithPostgres, true, true, inCluster("nexios-prod")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, exports, err := run(t, tt.stack, tt.cfg)
			if err != nil {
				t.Fatalf("program: %v", err)
			}
			if got := m.Has(tStatefulSet, "nexios-postgres-postgres"); got != tt.server {
				t.Errorf("PostgreSQL StatefulSet: %v, want %v", got, tt.server)
			}
			if got := m.Has(tCronJob, "nexios-postgres-backup"); got != tt.backup {
				t.Errorf("backup CronJob: %v, want %v", got, tt.backup)
			}
			if got := m.Has(tPassword, "nexios-secrets-database"); got != tt.server {
				t.Errorf("database password generated: %v, want %v", got, tt.server)
			}
			secret := m.Find(t, "kubernetes:core/v1:Secret", "nexios-secret")
			path := `stringData["database-url"]`
			if got := secret.String(path); got != tt.url || !secret.IsSecret(path) {
				t.Errorf("the app's Secret holds DATABASE_URL %q (secret: %v), want %q as a secret", got, secret.IsSecret(path), tt.url)
			}
			if !tt.server {
				return
			}
			sts := m.Find(t, tStatefulSet, "nexios-postgres-postgres")
			if got := sts.String("metadata.namespace"); got != "nexios-"+tt.stack {
				t.Errorf("the server runs in %q, want the app's namespace", got)
			}
			// The Service the URL names is the one the component creates.
			if svc := m.Find(t, "kubernetes:core/v1:Service", "nexios-postgres-service"); svc.String("metadata.name") != "nexios-postgres" {
				t.Errorf("the URL names Service nexios-postgres, the component created %q", svc.String("metadata.name"))
			}
			// Only the app's pods, by the app's own selector, reach the server.
			np := m.Find(t, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "nexios-postgres-allow")
			if got := np.String(`spec.ingress[0].from[0].podSelector.matchLabels["app.kubernetes.io/instance"]`); got != "nexios" {
				t.Errorf("the server admits instance %q, want the app's", got)
			}
			for key, value := range exports {
				got, isSecret := mocktest.Await(t, pulumi.ToOutput(value))
				if s, _ := got.(string); isSecret || strings.Contains(s, generated) {
					t.Errorf("export %s carries the database password or is secret", key)
				}
			}
			for _, r := range m.Resources() {
				walkPlaintext(resource.NewObjectProperty(r.Inputs), false, func(s string, isSecret bool) {
					if strings.Contains(s, generated) && !isSecret {
						t.Errorf("%s %s carries the database password in plain text", r.Type, r.Name)
					}
				})
			}
		})
	}
}
