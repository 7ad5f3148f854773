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
	"github.com/nexios-labs/nexios-k8s/internal/s3local"
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

func withBucketBackup() DatabaseArgs {
	a := withBackup()
	a.Backup.S3 = &S3{
		Endpoint: "https://s3.eu-west-3.amazonaws.com/", Bucket: "nexios-backups", Prefix: "nexios/prod/", Region: "eu-west-3",
		AccessKeyID: pulumi.String("AKIANEXIOS"), SecretAccessKey: pulumi.ToSecret(pulumi.String("the-secret")).(pulumi.StringOutput),
	}
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
		// backup is where the dumps go: "", "claim" or "bucket".
		backup string
	}{
		{"without backups", devArgs(), "", ""},
		{"with backups and a storage class", withBackup(), "fast-ssd", "claim"},
		{"with backups into a bucket", withBucketBackup(), "fast-ssd", "bucket"},
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
			if tt.backup != "" {
				wantPeers = append(wantPeers, nameBackup)
			}
			if !slices.Equal(peers, wantPeers) || np.Number("spec.ingress[0].ports[0].port") != 5432 || np.Len("spec.ingress") != 1 {
				t.Errorf("the policy admits pods %v on port %v, want %v on 5432 only", peers, np.Number("spec.ingress[0].ports[0].port"), wantPeers)
			}
			if got := np.String(`spec.podSelector.matchLabels["` + kube.LabelName + `"]`); got != nameServer {
				t.Errorf("the policy selects %q, want the server's pods", got)
			}

			if has := m.Has(tCronJob, "nexios-postgres-backup"); has != (tt.backup != "") {
				t.Fatalf("backup CronJob present: %v, want %v", has, tt.backup != "")
			}
			if tt.backup != "" {
				checkBackup(t, m, tt.backup)
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

func checkBackup(t *testing.T, m *mocktest.Mocks, target string) {
	t.Helper()
	cj := m.Find(t, tCronJob, "nexios-postgres-backup")
	for path, want := range map[string]string{
		"spec.schedule":                           "0 2 * * *",
		"spec.timeZone":                           "Etc/UTC",
		"spec.concurrencyPolicy":                  "Forbid",
		cronJobSpec + ".containers[0].image":      Image,
		cronJobSpec + ".containers[0].command[2]": BackupScript,
		cronJobSpec + ".containers[0].args[0]":    ModeBackup,
	} {
		if got := cj.String(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	env := map[string]string{}
	c := cronJobSpec + ".containers[0]"
	for i := range cj.Len(c + ".env") {
		e := fmt.Sprintf("%s.env[%d]", c, i)
		env[cj.String(e+".name")] = cj.String(e+".value") + cj.String(e+".valueFrom.secretKeyRef.name")
	}
	if env["PGHOST"] != "nexios-postgres" || env["BACKUP_DIR"] != BackupMountPath || env["RETENTION"] != "7" {
		t.Errorf("the Job's environment %v, want PGHOST the client Service, BACKUP_DIR %s, RETENTION 7", env, BackupMountPath)
	}
	if got := cj.String(`spec.jobTemplate.spec.template.metadata.labels["` + kube.LabelName + `"]`); got != nameBackup {
		t.Errorf("the Job's pods are labelled %q, want %q (the server's policy admits them by it)", got, nameBackup)
	}
	podcheck.EphemeralStorage(t, cj, cronJobSpec)
	podcheck.Restricted(t, cj, cronJobSpec)
	egress := m.Find(t, tNetPol, "nexios-postgres-backup-egress")
	if egress.String(`spec.podSelector.matchLabels["`+kube.LabelName+`"]`) != nameBackup || egress.Number("spec.egress[1].ports[0].port") != 5432 {
		t.Errorf("backup egress policy %v", egress.Inputs["spec"])
	}
	volume := cronJobSpec + ".volumes[0]"
	switch target {
	case "claim":
		if got := cj.String(volume + ".persistentVolumeClaim.claimName"); got != "nexios-postgres-backups-abc123" {
			t.Errorf("the dumps' volume is claim %q, want the backup claim", got)
		}
		claim := m.Find(t, tClaim, "nexios-postgres-backups")
		if claim.String("spec.resources.requests.storage") != "5Gi" || claim.String("spec.storageClassName") != "fast-ssd" {
			t.Errorf("backup claim %v", claim.Inputs["spec"])
		}
		if m.Has(tSecret, "nexios-postgres-backup-s3") || env["S3_BUCKET"] != "" || egress.Len("spec.egress") != 2 {
			t.Errorf("a backup onto a claim has bucket settings: env %v, egress %v", env, egress.Inputs["spec"])
		}
	case "bucket":
		if m.Has(tClaim, "nexios-postgres-backups") {
			t.Error("a backup into a bucket made a backup claim")
		}
		// The scratch space holds one dump, and the container's ephemeral storage covers it.
		if got := cj.String(volume + ".emptyDir.sizeLimit"); got != "5Gi" {
			t.Errorf("scratch volume sizeLimit %q, want the backup storage size 5Gi", got)
		}
		if got := cj.String(c + `.resources.limits["ephemeral-storage"]`); got != "5502926848" {
			t.Errorf("ephemeral-storage limit %q, want 5Gi + 128Mi in bytes", got)
		}
		want := map[string]string{
			"S3_ENDPOINT": "https://s3.eu-west-3.amazonaws.com", "S3_BUCKET": "nexios-backups", "S3_PREFIX": "nexios/prod/", "S3_REGION": "eu-west-3",
			s3KeyID: "nexios-postgres-backup-s3-abc123", s3KeySecret: "nexios-postgres-backup-s3-abc123",
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("env %s = %q, want %q", k, env[k], v)
			}
		}
		keys := m.Find(t, tSecret, "nexios-postgres-backup-s3")
		if keys.String("stringData."+s3KeyID) != "AKIANEXIOS" || keys.String("stringData."+s3KeySecret) != "the-secret" {
			t.Errorf("bucket credentials Secret %v", keys.Inputs)
		}
		if egress.Len("spec.egress") != 3 || egress.Number("spec.egress[2].ports[0].port") != 443 || egress.Len("spec.egress[2].to") != 0 {
			t.Errorf("backup egress policy %v, want a third rule: TCP 443 to any address", egress.Inputs["spec"])
		}
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
		{"bucket endpoint with a path", func(a *DatabaseArgs) {
			*a = withBucketBackup()
			a.Backup.S3.Endpoint = "https://s3.example.com/nexios-backups"
		}, "Backup.S3.Endpoint: \"https://s3.example.com/nexios-backups\" must be scheme://host[:port] alone"},
		{"bucket endpoint not http", func(a *DatabaseArgs) { *a = withBucketBackup(); a.Backup.S3.Endpoint = "s3://nexios-backups" }, "is not an http(s) URL"},
		{"bucket name", func(a *DatabaseArgs) { *a = withBucketBackup(); a.Backup.S3.Bucket = "Nexios_Backups" }, `Backup.S3.Bucket: "Nexios_Backups" is not a bucket name`},
		{"bucket prefix", func(a *DatabaseArgs) { *a = withBucketBackup(); a.Backup.S3.Prefix = "/nexios & co/" }, `Backup.S3.Prefix: "/nexios & co/" may hold only`},
		{"bucket region", func(a *DatabaseArgs) { *a = withBucketBackup(); a.Backup.S3.Region = "" }, `Backup.S3.Region: "" is not a region name`},
		{"bucket keys", func(a *DatabaseArgs) { *a = withBucketBackup(); a.Backup.S3.SecretAccessKey = nil }, "Backup.S3.AccessKeyID and Backup.S3.SecretAccessKey are required"},
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

// dumpStore is where a run of BackupScript under test keeps its dumps: the backup claim (a directory)
// or a bucket.
type dumpStore interface {
	// seed stores a dump fixture; names lists what is stored, in name order.
	seed(t *testing.T, name string)
	names(t *testing.T) []string
	// env is what the CronJob's environment gives the script to reach the store.
	env() []string
}

type claimStore struct{ dir string }

func (c claimStore) seed(t *testing.T, name string) {
	if err := os.WriteFile(filepath.Join(c.dir, name), []byte("old dump"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (c claimStore) names(t *testing.T) []string {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func (c claimStore) env() []string { return []string{"BACKUP_DIR=" + c.dir} }

// bucketStore is a local bucket that checks each request's signature (internal/s3local); the script
// signs for key, which a row may set wrong.
type bucketStore struct {
	server  *s3local.Server
	scratch string
	key     string
	seeded  int
}

const (
	bucketPrefix = "nexios/dev/"
	bucketRegion = "eu-west-3"
	bucketKeyID  = "AKIANEXIOSTEST"
	bucketSecret = "nexios/Test+Secret0"
)

func newBucketStore(t *testing.T) *bucketStore {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skipf("no curl to run the script's S3 requests with: %v", err)
	}
	server, err := s3local.Start("127.0.0.1:0", "nexios-backups", s3local.Credentials{AccessKeyID: bucketKeyID, SecretAccessKey: bucketSecret, Region: bucketRegion})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return &bucketStore{server: server, scratch: t.TempDir(), key: bucketSecret}
}

func (b *bucketStore) seed(t *testing.T, name string) {
	if err := b.server.Put(bucketPrefix+name, []byte("old dump")); err != nil {
		t.Fatal(err)
	}
	// An object beside the prefix, which no run may touch.
	if err := b.server.Put("elsewhere/"+name, []byte("not ours")); err != nil {
		t.Fatal(err)
	}
	b.seeded++
}

func (b *bucketStore) names(t *testing.T) []string {
	objects, err := b.server.Objects(bucketPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objects {
		names = append(names, strings.TrimPrefix(o.Key, bucketPrefix))
	}
	if elsewhere, err := b.server.Objects("elsewhere/"); err != nil || len(elsewhere) != b.seeded {
		t.Errorf("objects outside the prefix: %v (%v), want the %d seeded", elsewhere, err, b.seeded)
	}
	return names
}

func (b *bucketStore) env() []string {
	return []string{"BACKUP_DIR=" + b.scratch, "S3_ENDPOINT=" + b.server.URL, "S3_BUCKET=" + b.server.Bucket, "S3_PREFIX=" + bucketPrefix,
		"S3_REGION=" + bucketRegion, "AWS_ACCESS_KEY_ID=" + bucketKeyID, "AWS_SECRET_ACCESS_KEY=" + b.key}
}

// TestBackupScript runs the CronJob's script under sh, against a directory (the backup claim) and a
// local bucket through the machine's curl, with stand-ins for pg_dump and pg_restore that record their
// arguments. A backup writes a custom-format dump named by its UTC time, keeps the newest RETENTION
// dumps and deletes the rest, and removes what an interrupted run left; a restore runs pg_restore over
// the newest dump and fails without one. Against the bucket, every request must pass the signature
// check, and a wrong key must fail the run and change nothing.
func TestBackupScript(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh to run the script with: %v", err)
	}
	const (
		jan1, jan2, jan3 = "nexios-20260101T020000Z.dump", "nexios-20260102T020000Z.dump", "nexios-20260103T020000Z.dump"
		other            = "other-20270101T000000Z.dump"
		restoreFlags     = "--clean --if-exists --no-owner --exit-on-error -d nexios "
	)
	for _, tt := range []struct {
		name     string
		mode     string
		existing []string
		// retention is RETENTION; wrongKey signs with a key the bucket does not hold.
		retention string
		wrongKey  bool
		// kept are the existing dumps left, besides the new one a backup adds; restored is the dump
		// pg_restore must read ("" when the run must fail); failure is what a failing run prints.
		kept     []string
		restored string
		failure  string
	}{
		{name: "first backup", mode: ModeBackup, retention: "3"},
		{name: "backup keeps the newest", mode: ModeBackup, existing: []string{jan1, jan2, jan3, other}, retention: "3", kept: []string{jan2, jan3, other}},
		{name: "backup with retention 1", mode: ModeBackup, existing: []string{jan1}, retention: "1"},
		{name: "restore the newest", mode: ModeRestore, existing: []string{jan1, jan3, jan2, other}, kept: []string{jan1, jan2, jan3, other}, restored: jan3},
		{name: "restore without a dump", mode: ModeRestore, existing: []string{other}, kept: []string{other}, failure: "no dump of nexios"},
		{name: "unknown mode", mode: "dump", existing: []string{jan1}, kept: []string{jan1}, failure: "unknown mode dump"},
		{name: "backup with a wrong key", mode: ModeBackup, existing: []string{jan1}, retention: "1", wrongKey: true, kept: []string{jan1}, failure: "403"},
	} {
		for _, target := range []string{"claim", "bucket"} {
			if tt.wrongKey && target == "claim" {
				continue
			}
			t.Run(tt.name+" on the "+target, func(t *testing.T) {
				t.Parallel()
				var store dumpStore
				var bucket *bucketStore
				if target == "claim" {
					store = claimStore{dir: t.TempDir()}
				} else {
					bucket = newBucketStore(t)
					if tt.wrongKey {
						bucket.key = "not-the-key"
					}
					store = bucket
				}
				for _, name := range tt.existing {
					store.seed(t, name)
				}
				if target == "claim" {
					// What a run cut short left: removed by the next backup.
					store.seed(t, ".nexios-20260104T020000Z.dump.partial")
				}
				bin, record, waited := t.TempDir(), filepath.Join(t.TempDir(), "ran"), filepath.Join(t.TempDir(), "waited")
				stubs := map[string]string{
					// pg_dump's stand-in checks it is asked for the custom format and writes where told.
					"pg_dump":    "[ \"$1\" = -Fc ] && [ \"$2\" = -f ] || { echo \"unexpected arguments: $*\" >&2; exit 2; }\necho dump > \"$3\"\n",
					"pg_restore": "last=; for a; do last=$a; done\necho \"$* $(cat \"$last\")\" > " + record + "\n",
					// The server answers from the second try, as when its policy is programmed late.
					"pg_isready": "echo x >> " + waited + "\n[ $(wc -l < " + waited + ") -ge 2 ]\n",
				}
				for name, body := range stubs {
					if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				cmd := exec.Command(sh, "-c", BackupScript, "nexios-backup", tt.mode)
				cmd.Env = append(os.Environ(), append(store.env(), "PATH="+bin+":"+os.Getenv("PATH"), "PGDATABASE=nexios", "RETENTION="+tt.retention)...)
				out, err := cmd.CombinedOutput()
				ran, _ := os.ReadFile(record)
				// An unknown mode is refused before anything else; every other run waits for the server.
				wantWaits := 2
				if tt.mode != ModeBackup && tt.mode != ModeRestore {
					wantWaits = 0
				}
				if tries, _ := os.ReadFile(waited); strings.Count(string(tries), "x") != wantWaits {
					t.Errorf("pg_isready ran %d times, want %d", strings.Count(string(tries), "x"), wantWaits)
				}
				if tt.failure != "" {
					if err == nil || !strings.Contains(string(out), tt.failure) || len(ran) > 0 {
						t.Errorf("err %v, pg_restore ran with %q, want a failure saying %q:\n%s", err, ran, tt.failure, out)
					}
				} else if err != nil {
					t.Fatalf("the script failed: %v\n%s", err, out)
				}
				var kept, fresh []string
				for _, name := range store.names(t) {
					if slices.Contains(tt.existing, name) {
						kept = append(kept, name)
					} else {
						fresh = append(fresh, name)
					}
				}
				if !slices.Equal(kept, tt.kept) {
					t.Errorf("kept %v, want %v\n%s", kept, tt.kept, out)
				}
				switch {
				case tt.mode == ModeBackup && tt.failure == "":
					if len(fresh) != 1 || !strings.HasPrefix(fresh[0], "nexios-2") || !strings.HasSuffix(fresh[0], "Z.dump") {
						t.Errorf("new files %v, want one nexios-<UTC time>.dump\n%s", fresh, out)
					}
				case len(fresh) > 0 && !(target == "claim" && slices.Equal(fresh, []string{".nexios-20260104T020000Z.dump.partial"})):
					t.Errorf("new files %v, want none\n%s", fresh, out)
				}
				if tt.restored != "" {
					// The stand-in printed its arguments, then the content of the dump it was given.
					if got := strings.TrimSpace(string(ran)); !strings.HasPrefix(got, restoreFlags) || !strings.HasSuffix(got, " old dump") {
						t.Errorf("pg_restore ran as %q, want %q over the dump's content\n%s", got, restoreFlags+"DUMP", out)
					}
					if target == "claim" && !strings.Contains(string(ran), tt.restored) {
						t.Errorf("pg_restore read %q, want %s", ran, tt.restored)
					}
					if !strings.Contains(string(out), "restored ") || !strings.Contains(string(out), tt.restored) {
						t.Errorf("the script does not say it restored %s:\n%s", tt.restored, out)
					}
				}
				if bucket != nil {
					rejected := bucket.server.Rejected()
					if tt.wrongKey != (len(rejected) > 0) {
						t.Errorf("requests refused for their signature: %v (a wrong key: %v)", rejected, tt.wrongKey)
					}
				}
			})
		}
	}
}
