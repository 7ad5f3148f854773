package database

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
	"github.com/nexios-labs/nexios-k8s/internal/podcheck"
	"github.com/nexios-labs/nexios-k8s/internal/servicecheck"
)

const (
	tStatefulSet = "kubernetes:apps/v1:StatefulSet"
	tService     = "kubernetes:core/v1:Service"
	tSecret      = "kubernetes:core/v1:Secret"
	tNetPol      = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	tCronJob     = "kubernetes:batch/v1:CronJob"
	tClaim       = "kubernetes:core/v1:PersistentVolumeClaim"
	// cronJobSpec is where a CronJob keeps its Jobs' pod spec.
	cronJobSpec = "spec.jobTemplate.spec.template.spec"
	password    = "s3cr3t-Pass.word~"
)

func devArgs() DatabaseArgs {
	return DatabaseArgs{
		Namespace:   pulumi.String("nexios-dev").ToStringOutput(),
		Environment: "dev",
		Password:    pulumi.ToSecret(pulumi.String(password)).(pulumi.StringOutput),
		StorageSize: "1Gi",
		Resources: kube.Resources{
			Requests: kube.ResourceList{CPU: "100m", Memory: "256Mi"},
			Limits:   kube.ResourceList{CPU: "500m", Memory: "512Mi"},
		},
		ClientPods: pulumi.StringMap{kube.LabelName: pulumi.String("nexios"), kube.LabelInstance: pulumi.String("nexios")},
	}
}

func withBackup() DatabaseArgs {
	a := devArgs()
	a.StorageClass = "fast-ssd"
	a.Backup = &Backup{Schedule: "0 2 * * *", Retention: 7, StorageSize: "5Gi"}
	return a
}

func deploy(t *testing.T, args DatabaseArgs) (*mocktest.Mocks, *Database) {
	t.Helper()
	return mocktest.Build(t, func(ctx *pulumi.Context) (*Database, error) { return NewDatabase(ctx, "nexios-postgres", &args) })
}

func TestNewDatabaseChildren(t *testing.T) {
	tests := []struct {
		name         string
		args         DatabaseArgs
		storageClass string
		backup       bool
	}{
		{"without backups", devArgs(), "", false},
		{"with backups and a storage class", withBackup(), "fast-ssd", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			sts := m.Find(t, tStatefulSet, "nexios-postgres-postgres")
			if got := sts.Number("spec.replicas"); got != 1 {
				t.Errorf("replicas = %v, want 1", got)
			}
			if got := sts.String("spec.serviceName"); got != "nexios-postgres-headless-abc123" {
				t.Errorf("serviceName = %q, want the headless Service's", got)
			}
			c := "spec.template.spec.containers[0]"
			if got := sts.String(c + ".image"); got != Image {
				t.Errorf("image = %q", got)
			}
			env := map[string]string{}
			for i := range sts.Len(c + ".env") {
				e := fmt.Sprintf("%s.env[%d]", c, i)
				env[sts.String(e+".name")] = sts.String(e + ".value")
				if sts.String(e+".name") == "POSTGRES_PASSWORD" {
					env["POSTGRES_PASSWORD"] = sts.String(e + ".valueFrom.secretKeyRef.name")
				}
			}
			want := map[string]string{"POSTGRES_USER": "nexios", "POSTGRES_DB": "nexios", "PGDATA": "/var/lib/postgresql/data/pgdata", "POSTGRES_PASSWORD": "nexios-postgres-credentials-abc123"}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("env %s = %q, want %q", k, env[k], v)
				}
			}
			for _, p := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
				var cmd []string
				for i := range sts.Len(c + "." + p + ".exec.command") {
					cmd = append(cmd, sts.String(fmt.Sprintf("%s.%s.exec.command[%d]", c, p, i)))
				}
				if got := strings.Join(cmd, " "); got != "pg_isready -h 127.0.0.1 -p 5432 -U nexios" {
					t.Errorf("%s runs %q", p, got)
				}
			}
			if got := sts.Number(c+".startupProbe.periodSeconds") * sts.Number(c+".startupProbe.failureThreshold"); got < 300 {
				t.Errorf("the startup probe allows %v s, want at least 5 minutes", got)
			}
			for _, f := range []string{"runAsUser", "runAsGroup", "fsGroup"} {
				if got := sts.Number("spec.template.spec.securityContext." + f); got != 999 {
					t.Errorf("pod %s = %v, want 999", f, got)
				}
			}
			if ro, _ := sts.Bool(c + ".securityContext.readOnlyRootFilesystem"); !ro {
				t.Error("the root filesystem is writable")
			}
			mounts := map[string]string{}
			for i := range sts.Len(c + ".volumeMounts") {
				vm := fmt.Sprintf("%s.volumeMounts[%d]", c, i)
				mounts[sts.String(vm+".mountPath")] = sts.String(vm + ".name")
			}
			for path, volume := range map[string]string{"/var/lib/postgresql/data": "data", "/var/run/postgresql": "run", "/tmp": "tmp"} {
				if mounts[path] != volume {
					t.Errorf("%s mounts %q, want %q", path, mounts[path], volume)
				}
			}
			vct := "spec.volumeClaimTemplates[0]"
			if sts.String(vct+".metadata.name") != "data" || sts.String(vct+".spec.resources.requests.storage") != "1Gi" ||
				sts.String(vct+".spec.storageClassName") != tt.storageClass {
				t.Errorf("claim template %v", sts.Inputs["spec"].ObjectValue()["volumeClaimTemplates"])
			}
			podcheck.EphemeralStorage(t, sts, podcheck.TemplateSpec)
			podcheck.Restricted(t, sts, podcheck.TemplateSpec)

			client := m.Find(t, tService, "nexios-postgres-service")
			if client.String("metadata.name") != "nexios-postgres" || client.String("spec.type") != "ClusterIP" {
				t.Errorf("client Service %s of type %s, want nexios-postgres, ClusterIP", client.String("metadata.name"), client.String("spec.type"))
			}
			if got := m.Find(t, tService, "nexios-postgres-headless").String("spec.clusterIP"); got != "None" {
				t.Errorf("governing Service clusterIP = %q, want None", got)
			}
			if n := servicecheck.Services(t, m); n != 2 {
				t.Errorf("%d Services checked, want 2", n)
			}

			np := m.Find(t, tNetPol, "nexios-postgres-allow")
			from := "spec.ingress[0].from"
			var peers []string
			for i := range np.Len(from) {
				peers = append(peers, np.String(fmt.Sprintf(`%s[%d].podSelector.matchLabels["%s"]`, from, i, kube.LabelName)))
			}
			wantPeers := []string{"nexios"}
			if tt.backup {
				wantPeers = append(wantPeers, nameBackup)
			}
			if !slices.Equal(peers, wantPeers) || np.Number("spec.ingress[0].ports[0].port") != 5432 || np.Len("spec.ingress") != 1 {
				t.Errorf("the policy admits pods %v on port %v, want %v on 5432 only", peers, np.Number("spec.ingress[0].ports[0].port"), wantPeers)
			}
			if got := np.String(`spec.podSelector.matchLabels["` + kube.LabelName + `"]`); got != nameServer {
				t.Errorf("the policy selects %q, want the server's pods", got)
			}

			if has := m.Has(tCronJob, "nexios-postgres-backup"); has != tt.backup {
				t.Fatalf("backup CronJob present: %v, want %v", has, tt.backup)
			}
			if tt.backup {
				checkBackup(t, m)
			}
			for _, r := range m.Resources() {
				if !r.Custom {
					continue
				}
				if r.Parent == "" {
					t.Errorf("%s %s has no parent", r.Type, r.Name)
				}
				if got := r.String(`metadata.labels["` + kube.LabelStack + `"]`); got != "nexios.test" {
					t.Errorf("%s %s: stack label %q", r.Type, r.Name, got)
				}
			}
		})
	}
}

func checkBackup(t *testing.T, m *mocktest.Mocks) {
	t.Helper()
	cj := m.Find(t, tCronJob, "nexios-postgres-backup")
	for path, want := range map[string]string{
		"spec.schedule":                                             "0 2 * * *",
		"spec.timeZone":                                             "Etc/UTC",
		"spec.concurrencyPolicy":                                    "Forbid",
		cronJobSpec + ".containers[0].image":                        Image,
		cronJobSpec + ".containers[0].command[2]":                   BackupScript,
		cronJobSpec + ".volumes[0].persistentVolumeClaim.claimName": "nexios-postgres-backups-abc123",
	} {
		if got := cj.String(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if got := cj.String(cronJobSpec + `.containers[0].env[0].value`); got != "nexios-postgres" {
		t.Errorf("PGHOST = %q, want the client Service", got)
	}
	if got := cj.String(`spec.jobTemplate.spec.template.metadata.labels["` + kube.LabelName + `"]`); got != nameBackup {
		t.Errorf("the Job's pods are labelled %q, want %q (the server's policy admits them by it)", got, nameBackup)
	}
	podcheck.EphemeralStorage(t, cj, cronJobSpec)
	podcheck.Restricted(t, cj, cronJobSpec)
	claim := m.Find(t, tClaim, "nexios-postgres-backups")
	if claim.String("spec.resources.requests.storage") != "5Gi" || claim.String("spec.storageClassName") != "fast-ssd" {
		t.Errorf("backup claim %v", claim.Inputs["spec"])
	}
	egress := m.Find(t, tNetPol, "nexios-postgres-backup-egress")
	if egress.String(`spec.podSelector.matchLabels["`+kube.LabelName+`"]`) != nameBackup || egress.Number("spec.egress[1].ports[0].port") != 5432 {
		t.Errorf("backup egress policy %v", egress.Inputs["spec"])
	}
}

func TestURL(t *testing.T) {
	tests := []struct {
		password, want string
	}{
		{password, "postgresql://nexios:s3cr3t-Pass.word~@nexios-postgres.nexios-dev.svc:5432/nexios"},
		// Characters the generator never makes are still escaped, so the URL always parses.
		{"p@ss/w:rd", "postgresql://nexios:p%40ss%2Fw%3Ard@nexios-postgres.nexios-dev.svc:5432/nexios"},
	}
	for _, tt := range tests {
		t.Run(tt.password, func(t *testing.T) {
			_, db := deploy(t, func() DatabaseArgs { a := devArgs(); a.Password = pulumi.String(tt.password); return a }())
			got, secret := mocktest.Await(t, db.URL)
			if got != tt.want || !secret {
				t.Errorf("URL = %v (secret %v), want %q as a secret", got, secret, tt.want)
			}
			args := devArgs()
			args.Password = pulumi.String(tt.password)
			standalone, secret := mocktest.Await(t, URLFor("nexios-postgres", "nexios-dev", &args))
			if !secret {
				t.Error("URLFor is not a secret")
			}
			if standalone != got {
				t.Errorf("URL composed before the Database = %v, the Database's = %v", standalone, got)
			}
		})
	}
}

func TestNewDatabaseRejectsBadArgs(t *testing.T) {
	tests := []struct {
		name   string
		change func(*DatabaseArgs)
		want   string
	}{
		{"no namespace", func(a *DatabaseArgs) { a.Namespace = nil }, "Namespace is required"},
		{"no password", func(a *DatabaseArgs) { a.Password = nil }, "Password is required"},
		{"no clients", func(a *DatabaseArgs) { a.ClientPods = nil }, "ClientPods is required"},
		{"quoted user", func(a *DatabaseArgs) { a.User = "Nexios-App" }, `User "Nexios-App" is not a plain PostgreSQL identifier`},
		{"bad size", func(a *DatabaseArgs) { a.StorageSize = "1 GB" }, "StorageSize"},
		{"no resources", func(a *DatabaseArgs) { a.Resources = kube.Resources{} }, "requests and limits"},
		{"retention 0", func(a *DatabaseArgs) { a.Backup = &Backup{Schedule: "@daily", StorageSize: "1Gi"} }, "Backup.Retention must be at least 1"},
		{"no schedule", func(a *DatabaseArgs) { a.Backup = &Backup{Retention: 1, StorageSize: "1Gi"} }, "Backup.Schedule is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := devArgs()
			tt.change(&args)
			mocktest.ExpectRejected(t, func(ctx *pulumi.Context) (*Database, error) { return NewDatabase(ctx, "nexios-postgres", &args) }, tt.want)
		})
	}
	mocktest.ExpectRejected(t, func(ctx *pulumi.Context) (*Database, error) { return NewDatabase(ctx, "db", nil) }, "args are required")
	args := devArgs()
	mocktest.ExpectRejected(t, func(ctx *pulumi.Context) (*Database, error) { return NewDatabase(ctx, "Nexios_DB", &args) }, "not a valid Service name")
}

// TestBackupScriptKeepsTheNewestDumps runs the CronJob's script under sh with a pg_dump stand-in: it
// writes a custom-format dump named by its UTC time, keeps the newest RETENTION dumps and deletes the
// rest, and removes what an interrupted run left.
func TestBackupScriptKeepsTheNewestDumps(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh to run the script with: %v", err)
	}
	for _, tt := range []struct {
		name      string
		existing  []string
		retention string
		want      []string // besides the new dump
	}{
		{"first run", nil, "3", nil},
		{"keeps the newest", []string{"nexios-20260101T020000Z.dump", "nexios-20260102T020000Z.dump", "nexios-20260103T020000Z.dump", "other-20200101T000000Z.dump", ".nexios-20260104T020000Z.dump.partial"}, "3",
			[]string{"nexios-20260102T020000Z.dump", "nexios-20260103T020000Z.dump", "other-20200101T000000Z.dump"}},
		{"retention 1", []string{"nexios-20260101T020000Z.dump"}, "1", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, bin := t.TempDir(), t.TempDir()
			for _, f := range tt.existing {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// pg_dump's stand-in checks it is asked for the custom format and writes where told.
			stub := "#!/bin/sh\n[ \"$1\" = -Fc ] && [ \"$2\" = -f ] || { echo \"unexpected arguments: $*\" >&2; exit 2; }\necho dump > \"$3\"\n"
			if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(stub), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(sh, "-c", BackupScript)
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "BACKUP_DIR="+dir, "PGDATABASE=nexios", "RETENTION="+tt.retention)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the script failed: %v\n%s", err, out)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var fresh string
			for _, e := range entries {
				if slices.Contains(tt.existing, e.Name()) {
					got = append(got, e.Name())
				} else {
					fresh = e.Name()
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("kept %v, want %v\n%s", got, tt.want, out)
			}
			if len(entries) != len(tt.want)+1 || !strings.HasPrefix(fresh, "nexios-2") || !strings.HasSuffix(fresh, "Z.dump") {
				t.Errorf("the new dump is %q among %d files, want nexios-<UTC time>.dump\n%s", fresh, len(entries), out)
			}
		})
	}
}

// documentedRestoreScript is the restore script of docs/disaster-recovery.md, the fenced block under
// its "### Restore script" heading.
func documentedRestoreScript(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "disaster-recovery.md"))
	if err != nil {
		t.Fatalf("reading the procedure: %v", err)
	}
	_, section, found := strings.Cut(string(raw), "### Restore script\n")
	_, block, fenced := strings.Cut(section, "```sh\n")
	block, _, closed := strings.Cut(block, "```")
	if !found || !fenced || !closed {
		t.Fatal(`docs/disaster-recovery.md has no sh block under "### Restore script"`)
	}
	return block
}

// TestDocumentedRestoreScriptRestoresTheNewestDump runs the documented restore script under sh, in the
// environment the backup CronJob gives its Jobs, with a pg_restore stand-in recording its arguments: it
// restores the newest of the dumps the backup script names, over the existing objects, and fails
// without a dump.
func TestDocumentedRestoreScriptRestoresTheNewestDump(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh to run the script with: %v", err)
	}
	script := documentedRestoreScript(t)
	for _, tt := range []struct {
		name  string
		dumps []string
		want  string // pg_restore's arguments; "" when the script must fail
	}{
		{"newest of several", []string{"nexios-20260101T020000Z.dump", "nexios-20260103T020000Z.dump", "nexios-20260102T020000Z.dump", "other-20270101T000000Z.dump"},
			"--clean --if-exists --no-owner --exit-on-error -d nexios nexios-20260103T020000Z.dump"},
		{"no dump", []string{"other-20270101T000000Z.dump"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, bin := t.TempDir(), t.TempDir()
			for _, f := range tt.dumps {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("dump"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			record := filepath.Join(t.TempDir(), "args")
			stub := "#!/bin/sh\necho \"$*\" > " + record + "\n"
			if err := os.WriteFile(filepath.Join(bin, "pg_restore"), []byte(stub), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(sh, "-c", script)
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "BACKUP_DIR="+dir, "PGDATABASE=nexios")
			out, err := cmd.CombinedOutput()
			got, _ := os.ReadFile(record)
			switch {
			case tt.want == "" && (err == nil || len(got) > 0 || !strings.Contains(string(out), "no dump of nexios")):
				t.Errorf("without a dump: err %v, pg_restore ran with %q:\n%s", err, got, out)
			case tt.want != "" && (err != nil || strings.TrimSpace(string(got)) != tt.want):
				t.Errorf("pg_restore ran with %q (err %v), want %q:\n%s", got, err, tt.want, out)
			}
		})
	}
}
