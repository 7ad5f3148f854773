package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// devDatabaseURL is the DATABASE_URL the dev stack's in-cluster PostgreSQL gives the app.
var devDatabaseURL = regexp.MustCompile(`^postgresql://nexios:([A-Za-z0-9._~-]{32})@nexios-postgres\.nexios-dev\.svc:5432/nexios$`)

// byLabel is a list query selecting the objects whose app.kubernetes.io/name is name.
func byLabel(name string) string { return "?labelSelector=app.kubernetes.io%2Fname%3D" + name }

// devDatabaseRuns checks the dev stack's PostgreSQL as `up` left it: its StatefulSet Ready on a bound
// claim, its two Services and its policy in the app's namespace, no backup CronJob (off in dev), and
// the app's Secret holding a DATABASE_URL that points at its Service, whose password no command printed
// and no state file holds in plain text.
func devDatabaseRuns(ctx context.Context, t *testing.T, p *pipeline, api apiClient, outputs map[string]any) {
	const ns = "/namespaces/nexios-dev"
	var sets struct {
		Items []struct {
			Spec struct {
				ServiceName          string `json:"serviceName"`
				VolumeClaimTemplates []struct {
					Spec struct {
						Resources struct {
							Requests map[string]string `json:"requests"`
						} `json:"resources"`
					} `json:"spec"`
				} `json:"volumeClaimTemplates"`
			} `json:"spec"`
			Status struct {
				ReadyReplicas int `json:"readyReplicas"`
			} `json:"status"`
		} `json:"items"`
	}
	if code := api.get(t, "/apis/apps/v1"+ns+"/statefulsets"+byLabel("postgres"), &sets); code != http.StatusOK || len(sets.Items) != 1 {
		t.Fatalf("PostgreSQL StatefulSets (HTTP %d): %+v, want one", code, sets.Items)
	}
	sts := sets.Items[0]
	if sts.Status.ReadyReplicas != 1 || len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests["storage"] != "1Gi" {
		t.Errorf("the StatefulSet: %+v, want 1 ready replica on a 1Gi claim template", sts)
	}
	var claims struct {
		Items []struct {
			Status struct {
				Phase string `json:"phase"`
			} `json:"status"`
		} `json:"items"`
	}
	if code := api.get(t, "/api/v1"+ns+"/persistentvolumeclaims"+byLabel("postgres"), &claims); code != http.StatusOK || len(claims.Items) != 1 || claims.Items[0].Status.Phase != "Bound" {
		t.Errorf("the data claims (HTTP %d): %+v, want one Bound", code, claims.Items)
	}
	var services struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				ClusterIP string `json:"clusterIP"`
				Ports     []struct {
					Port int `json:"port"`
				} `json:"ports"`
			} `json:"spec"`
		} `json:"items"`
	}
	api.get(t, "/api/v1"+ns+"/services"+byLabel("postgres"), &services)
	kinds := map[string]string{}
	for _, s := range services.Items {
		kind := "ClusterIP"
		if s.Spec.ClusterIP == "None" {
			kind = "headless"
		}
		if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != 5432 {
			t.Errorf("Service %s ports %+v, want 5432", s.Metadata.Name, s.Spec.Ports)
		}
		kinds[kind] = s.Metadata.Name
	}
	if len(services.Items) != 2 || kinds["ClusterIP"] != "nexios-postgres" || kinds["headless"] != sts.Spec.ServiceName {
		t.Errorf("PostgreSQL Services %v, want ClusterIP nexios-postgres and the StatefulSet's headless %q", kinds, sts.Spec.ServiceName)
	}
	var policies struct {
		Items []struct {
			Spec struct {
				Ingress []struct {
					From []struct {
						PodSelector struct {
							MatchLabels map[string]string `json:"matchLabels"`
						} `json:"podSelector"`
					} `json:"from"`
					Ports []struct {
						Port int `json:"port"`
					} `json:"ports"`
				} `json:"ingress"`
			} `json:"spec"`
		} `json:"items"`
	}
	api.get(t, "/apis/networking.k8s.io/v1"+ns+"/networkpolicies"+byLabel("postgres"), &policies)
	if len(policies.Items) != 1 || len(policies.Items[0].Spec.Ingress) != 1 || len(policies.Items[0].Spec.Ingress[0].From) != 1 ||
		policies.Items[0].Spec.Ingress[0].From[0].PodSelector.MatchLabels["app.kubernetes.io/name"] != "nexios" || policies.Items[0].Spec.Ingress[0].Ports[0].Port != 5432 {
		t.Errorf("PostgreSQL's policy %+v, want one admitting only the app's pods on 5432", policies.Items)
	}
	var cronJobs struct {
		Items []any `json:"items"`
	}
	if api.get(t, "/apis/batch/v1"+ns+"/cronjobs", &cronJobs); len(cronJobs.Items) != 0 {
		t.Errorf("%d CronJobs in dev, whose backups are off by default", len(cronJobs.Items))
	}

	secretName, _ := outputs["appSecretName"].(string)
	var secret struct {
		Data map[string]string `json:"data"`
	}
	if code := api.get(t, "/api/v1"+ns+"/secrets/"+secretName, &secret); code != http.StatusOK {
		t.Fatalf("GET the app's Secret %q: HTTP %d", secretName, code)
	}
	raw, err := base64.StdEncoding.DecodeString(secret.Data["database-url"])
	if err != nil {
		t.Fatalf("the Secret's database-url is not base64: %v", err)
	}
	m := devDatabaseURL.FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatalf("the app's DATABASE_URL (%d characters) does not point at the in-cluster Service as %s", len(raw), devDatabaseURL)
	}
	password := m[1]
	for _, args := range [][]string{{"outputs", "dev"}, {"outputs", "dev", "--json"}, {"outputs", "dev", "--show-secrets"}} {
		p.mustRun(ctx, args...)
	}
	forms := []string{password, base64.StdEncoding.EncodeToString([]byte(password)), string(raw), secret.Data["database-url"]}
	for _, form := range forms {
		if strings.Contains(p.transcript.String(), form) {
			t.Errorf("a command printed the database password or URL (%d characters)", len(form))
		}
		for name, content := range stateFiles(t, p.project) {
			if strings.Contains(content, form) {
				t.Errorf("the state file %s holds the database password or URL unencrypted", name)
			}
		}
	}
}

// backupsMakeTheCronJob turns postgres.backup on in the dev stack: up creates the backup CronJob
// (Forbid, the default schedule, the same image) and its claim; turning it off again deletes the claim,
// which up takes only with --allow-destructive. The stack file is put back.
func backupsMakeTheCronJob(ctx context.Context, t *testing.T, p *pipeline, api apiClient) {
	const ns = "/namespaces/nexios-dev"
	restore := editStack(t, p, nil, "  nexios:postgres:\n    backup:\n      enabled: true\n      retention: 2\n")
	p.mustRun(ctx, "up", "dev")
	var cronJobs struct {
		Items []struct {
			Spec struct {
				Schedule          string `json:"schedule"`
				TimeZone          string `json:"timeZone"`
				ConcurrencyPolicy string `json:"concurrencyPolicy"`
				JobTemplate       struct {
					Spec struct {
						Template struct {
							Spec struct {
								Containers []struct {
									Image   string   `json:"image"`
									Command []string `json:"command"`
									Env     []struct {
										Name  string `json:"name"`
										Value string `json:"value"`
									} `json:"env"`
								} `json:"containers"`
							} `json:"spec"`
						} `json:"template"`
					} `json:"spec"`
				} `json:"jobTemplate"`
			} `json:"spec"`
		} `json:"items"`
	}
	if code := api.get(t, "/apis/batch/v1"+ns+"/cronjobs"+byLabel("postgres-backup"), &cronJobs); code != http.StatusOK || len(cronJobs.Items) != 1 {
		t.Fatalf("backup CronJobs (HTTP %d): %+v, want one", code, cronJobs.Items)
	}
	cj := cronJobs.Items[0].Spec
	containers := cj.JobTemplate.Spec.Template.Spec.Containers
	if cj.Schedule != "0 2 * * *" || cj.TimeZone != "Etc/UTC" || cj.ConcurrencyPolicy != "Forbid" || len(containers) != 1 ||
		containers[0].Image != "ghcr.io/nexios-labs/nexios-postgres:15" || !strings.Contains(strings.Join(containers[0].Command, " "), "pg_dump -Fc") {
		t.Errorf("the backup CronJob: %+v", cj)
	}
	env := map[string]string{}
	for _, e := range containers[0].Env {
		env[e.Name] = e.Value
	}
	if env["RETENTION"] != "2" || env["PGHOST"] != "nexios-postgres" {
		t.Errorf("the backup Job's environment %v, want RETENTION 2 and PGHOST nexios-postgres", env)
	}
	var claims struct {
		Items []any `json:"items"`
	}
	if api.get(t, "/api/v1"+ns+"/persistentvolumeclaims"+byLabel("postgres-backup"), &claims); len(claims.Items) != 1 {
		t.Errorf("%d backup claims, want 1", len(claims.Items))
	}
	restore()
	r := p.run(ctx, "up", "dev")
	if r.code != 2 || !strings.Contains(r.stderr, "PersistentVolumeClaim") {
		t.Errorf("up turning backups off: exit %d, want 2 refusing to delete the backup claim:\n%s", r.code, r.stderr)
	}
	p.mustRun(ctx, "up", "dev", "--allow-destructive")
	if api.get(t, "/apis/batch/v1"+ns+"/cronjobs", &cronJobs); len(cronJobs.Items) != 0 {
		t.Errorf("%d CronJobs after turning backups off, want none", len(cronJobs.Items))
	}
}
