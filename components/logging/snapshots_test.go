package logging

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

const tPVC = "kubernetes:core/v1:PersistentVolumeClaim"

func testSnapshots() *Snapshots {
	return &Snapshots{Schedule: "0 30 1 * * ?", ExpireAfterDays: 30, MinCount: 5, MaxCount: 50, StorageSize: "200Gi", StorageClass: "nfs"}
}

func TestSnapshotPolicy(t *testing.T) {
	tests := []struct {
		name    string
		change  func(s *Snapshots)
		wantErr string
	}{
		{name: "valid", change: func(*Snapshots) {}},
		{name: "five-field cron", change: func(s *Snapshots) { s.Schedule = "30 1 * * *" }, wantErr: "Snapshots.Schedule"},
		{name: "no expiry", change: func(s *Snapshots) { s.ExpireAfterDays = 0 }, wantErr: "Snapshots.ExpireAfterDays"},
		{name: "max below min", change: func(s *Snapshots) { s.MaxCount = 2 }, wantErr: "MaxCount at least MinCount"},
		{name: "bad size", change: func(s *Snapshots) { s.StorageSize = "lots" }, wantErr: "Snapshots.StorageSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSnapshots()
			tt.change(s)
			raw, err := SnapshotPolicy("nexios-logs", *s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				Schedule, Name, Repository string
				Config                     struct {
					Indices            []string `json:"indices"`
					IncludeGlobalState *bool    `json:"include_global_state"`
				} `json:"config"`
				Retention struct {
					ExpireAfter string `json:"expire_after"`
					MinCount    int    `json:"min_count"`
					MaxCount    int    `json:"max_count"`
				} `json:"retention"`
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("policy is not JSON: %v\n%s", err, raw)
			}
			if p.Schedule != "0 30 1 * * ?" || p.Repository != "nexios-logs-snapshots" || p.Name != "<nexios-logs-{now/d}>" {
				t.Errorf("policy %s", raw)
			}
			if strings.Join(p.Config.Indices, ",") != "nexios-logs" || p.Config.IncludeGlobalState == nil || *p.Config.IncludeGlobalState {
				t.Errorf("the policy snapshots %v with global state %v, want the data stream alone", p.Config.Indices, p.Config.IncludeGlobalState)
			}
			if p.Retention.ExpireAfter != "30d" || p.Retention.MinCount != 5 || p.Retention.MaxCount != 50 {
				t.Errorf("retention %+v, want 30d, 5 to 50", p.Retention)
			}
		})
	}
}

func TestSnapshotRepositoryIsTheSharedDirectory(t *testing.T) {
	raw, err := SnapshotRepository()
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Type     string `json:"type"`
		Settings struct {
			Location string `json:"location"`
		} `json:"settings"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.Type != "fs" || r.Settings.Location != snapshotsDir {
		t.Errorf("repository %s (%v), want fs at %s", raw, err, snapshotsDir)
	}
}

// With Snapshots the nodes share one ReadWriteMany claim at path.repo and the setup Job registers the
// repository and the policy; without, none of it exists.
func TestSnapshotsAreSetUpOnlyWhenAsked(t *testing.T) {
	on := prodArgs()
	on.Snapshots = testSnapshots()
	tests := []struct {
		name string
		args LoggingArgs
		on   bool
	}{
		{"dev, off", devArgs(), false},
		{"prod, off", prodArgs(), false},
		{"prod, on", on, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			if got := m.Has(tPVC, "logs-snapshots"); got != tt.on {
				t.Fatalf("snapshot claim exists: %v, want %v", got, tt.on)
			}
			sts := m.Find(t, tStatefulSet, "logs-es")
			c := "spec.template.spec.containers[0]"
			pathRepo, hasPathRepo := env(sts, c)["path.repo"]
			mounted := false
			for i := 0; i < sts.Len(c+".volumeMounts"); i++ {
				p := c + ".volumeMounts[" + strconv.Itoa(i) + "]"
				mounted = mounted || (sts.String(p+".name") == snapshotsVolumeName && sts.String(p+".mountPath") == snapshotsDir)
			}
			claim := ""
			for i := 0; i < sts.Len("spec.template.spec.volumes"); i++ {
				p := "spec.template.spec.volumes[" + strconv.Itoa(i) + "]"
				if sts.String(p+".name") == snapshotsVolumeName {
					claim = sts.String(p + ".persistentVolumeClaim.claimName")
				}
			}
			script := m.Find(t, tConfigMap, "logs-setup").String(`data["setup.sh"]`)
			registers := strings.Contains(script, "PUT '/_snapshot/nexios-logs-snapshots' @/setup/"+fileSnapshotRepo) &&
				strings.Contains(script, "PUT '/_slm/policy/nexios-logs-snapshots' @/setup/"+fileSnapshotPolicy)
			if !tt.on {
				// What an earlier run registered is removed, the policy before its repository.
				forgets := strings.Index(script, "forget '/_slm/policy/nexios-logs-snapshots'") < strings.Index(script, "forget '/_snapshot/nexios-logs-snapshots'") &&
					strings.Contains(script, "forget '/_slm/policy/nexios-logs-snapshots'") && strings.Contains(script, "200|404")
				if hasPathRepo || mounted || claim != "" || strings.Contains(script, "PUT '/_snapshot") || strings.Contains(script, "PUT '/_slm") || !forgets {
					t.Errorf("snapshots off, yet path.repo %q, mounted %v, claim %q, script:\n%s", pathRepo, mounted, claim, script)
				}
				return
			}
			pvc := m.Find(t, tPVC, "logs-snapshots")
			if pvc.String("spec.accessModes[0]") != "ReadWriteMany" || pvc.Len("spec.accessModes") != 1 ||
				pvc.String(`spec.resources.requests["storage"]`) != "200Gi" || pvc.String("spec.storageClassName") != "nfs" {
				t.Errorf("snapshot claim %v, want one ReadWriteMany claim of 200Gi in class nfs", pvc.Inputs)
			}
			if pvc.String("metadata.namespace") != "logging" {
				t.Errorf("snapshot claim in namespace %q, want Elasticsearch's", pvc.String("metadata.namespace"))
			}
			if pathRepo != snapshotsDir || !mounted || claim != "logs-snapshots-abc123" {
				t.Errorf("nodes: path.repo %q, mounted %v, claim %q; want the shared claim at %s", pathRepo, mounted, claim, snapshotsDir)
			}
			// The repository is registered before the policy that writes into it.
			if !registers || strings.Index(script, "_snapshot/") > strings.Index(script, "_slm/") || strings.Contains(script, "forget") {
				t.Errorf("setup script does not register the repository, then the policy:\n%s", script)
			}
		})
	}
}

func TestInvalidSnapshotsRegisterNothing(t *testing.T) {
	args := prodArgs()
	args.Snapshots = testSnapshots()
	args.Snapshots.MinCount = 0
	mocktest.ExpectRejected(t, func(ctx *pulumi.Context) (*Logging, error) { return NewLogging(ctx, "logs", &args) }, "Snapshots.MinCount")
}

// The setup script parses as a shell script with snapshots on and off (Debian's sh is dash, which
// like the setup image's sh rejects bashisms).
func TestSetupScriptParses(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh to parse the script with: %v", err)
	}
	for _, on := range []bool{false, true} {
		script := setupScript("nexios-logs", true) + snapshotScript("nexios-logs", on)
		cmd := exec.Command(sh, "-n")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("snapshots %v: the script does not parse: %v\n%s\n%s", on, err, out, script)
		}
	}
}
