package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

const (
	stackURN     = "urn:pulumi:dev::nexios::pulumi:pulumi:Stack::nexios-dev"
	providerURN  = "urn:pulumi:dev::nexios::pulumi:providers:kubernetes::default_4_25_0"
	appURN       = "urn:pulumi:dev::nexios::nexios:components:App::nexios"
	namespaceURN = "urn:pulumi:dev::nexios::nexios:components:App$kubernetes:core/v1:Namespace::nexios-ns"
	serviceURN   = "urn:pulumi:dev::nexios::nexios:components:App$kubernetes:core/v1:Service::nexios-service"
	configURN    = "urn:pulumi:dev::nexios::nexios:components:App$kubernetes:core/v1:ConfigMap::nexios-env"
)

// syntheticState is a stack export's deployment as an up killed mid-way leaves it: the resources that
// completed, and the operations in flight.
const syntheticState = `{
  "manifest": {"time": "2026-12-01T05:00:00Z", "magic": "m", "version": "v3.274.1"},
  "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:abc"}},
  "resources": [
    {"urn": "` + stackURN + `", "custom": false, "type": "pulumi:pulumi:Stack"},
    {"urn": "` + providerURN + `", "custom": true, "id": "prov-1", "type": "pulumi:providers:kubernetes", "parent": "` + stackURN + `"},
    {"urn": "` + appURN + `", "custom": false, "type": "nexios:components:App", "parent": "` + stackURN + `"},
    {"urn": "` + namespaceURN + `", "custom": true, "id": "nexios-dev", "type": "kubernetes:core/v1:Namespace",
     "parent": "` + appURN + `", "provider": "` + providerURN + `::prov-1", "inputs": {"metadata": {"name": "nexios-dev"}}},
    {"urn": "` + configURN + `", "custom": true, "id": "nexios-dev/nexios-env-old", "type": "kubernetes:core/v1:ConfigMap",
     "parent": "` + appURN + `", "provider": "` + providerURN + `::prov-1", "additionalSecretOutputs": ["data"]}
  ],
  "pending_operations": [
    {"type": "creating", "resource": {"urn": "` + serviceURN + `", "custom": true, "type": "kubernetes:core/v1:Service",
      "parent": "` + appURN + `", "provider": "` + providerURN + `::prov-1", "dependencies": ["` + namespaceURN + `"],
      "inputs": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nexios-service-1a2b", "namespace": "nexios-dev",
        "annotations": {"secret": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:CIPHER"}}}}}},
    {"type": "creating", "resource": {"urn": "urn:pulumi:dev::nexios::kubernetes:core/v1:Namespace::monitoring", "custom": true,
      "type": "kubernetes:core/v1:Namespace", "parent": "` + stackURN + `", "provider": "` + providerURN + `::prov-1",
      "inputs": {"metadata": {"name": "monitoring"}}}},
    {"type": "creating", "resource": {"urn": "urn:pulumi:dev::nexios::random:index/randomPassword:RandomPassword::key", "custom": true,
      "type": "random:index/randomPassword:RandomPassword", "parent": "` + stackURN + `"}},
    {"type": "updating", "resource": {"urn": "` + namespaceURN + `", "custom": true, "id": "nexios-dev", "type": "kubernetes:core/v1:Namespace"}},
    {"type": "creating", "resource": {"urn": "urn:pulumi:dev::nexios::kubernetes:core/v1:Secret::hidden", "custom": true,
      "type": "kubernetes:core/v1:Secret", "parent": "` + stackURN + `", "provider": "` + providerURN + `::prov-1",
      "inputs": {"metadata": {"name": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:X"}}}}},
    {"type": "creating", "resource": {"urn": "urn:pulumi:dev::nexios::kubernetes:core/v1:Secret::orphan", "custom": true,
      "type": "kubernetes:core/v1:Secret", "parent": "` + stackURN + `", "provider": "urn:pulumi:dev::nexios::pulumi:providers:kubernetes::gone::p2",
      "inputs": {"metadata": {"name": "orphan-1", "namespace": "nexios-dev"}}}},
    {"type": "creating", "resource": {"urn": "` + namespaceURN + `", "custom": true, "type": "kubernetes:core/v1:Namespace",
      "parent": "` + appURN + `", "provider": "` + providerURN + `::prov-1", "inputs": {"metadata": {"name": "nexios-dev"}}}},
    {"type": "creating", "resource": {"urn": "` + configURN + `", "custom": true, "type": "kubernetes:core/v1:ConfigMap",
      "parent": "` + appURN + `", "provider": "` + providerURN + `::prov-1",
      "inputs": {"metadata": {"name": "nexios-env-new", "namespace": "nexios-dev"}}}},
    {"type": "creating", "resource": {"urn": "urn:pulumi:dev::nexios::kubernetes:core/v1:Secret::odd", "custom": true,
      "type": "kubernetes:core/v1:Secret", "parent": "` + stackURN + `", "inputs": {"metadata": ["odd"]}}},
    {"type": "creating", "resource": {"urn": "urn:pulumi:dev::nexios::aws:s3/bucket:Bucket::b", "custom": true,
      "type": "aws:s3/bucket:Bucket", "parent": "` + stackURN + `"}}
  ]
}`

func TestResolvePendingAdoptsKubernetesCreatesAndDropsTheRest(t *testing.T) {
	out, resolutions, err := resolvePending(json.RawMessage(syntheticState))
	if err != nil {
		t.Fatalf("resolvePending: %v", err)
	}
	var got struct {
		Manifest          map[string]any   `json:"manifest"`
		SecretsProviders  map[string]any   `json:"secrets_providers"`
		Resources         []map[string]any `json:"resources"`
		PendingOperations []any            `json:"pending_operations"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("the repaired state is not JSON: %v", err)
	}
	if got.PendingOperations != nil || strings.Contains(string(out), "pending_operations") {
		t.Errorf("pending operations remain: %v", got.PendingOperations)
	}
	if got.Manifest["magic"] != "m" || got.SecretsProviders["type"] != "passphrase" {
		t.Errorf("the deployment's other fields changed: %v %v", got.Manifest, got.SecretsProviders)
	}

	// What each operation became, in order.
	want := []struct {
		urn, id string
		adopted bool
		note    string
	}{
		{serviceURN, "nexios-dev/nexios-service-1a2b", true, "the refresh reads it"},
		{"urn:pulumi:dev::nexios::kubernetes:core/v1:Namespace::monitoring", "monitoring", true, "the refresh reads it"},
		{"urn:pulumi:dev::nexios::random:index/randomPassword:RandomPassword::key", "", false, "random value"},
		{namespaceURN, "", false, "read back by the refresh"},
		{"urn:pulumi:dev::nexios::kubernetes:core/v1:Secret::hidden", "", false, "no plain metadata.name"},
		{"urn:pulumi:dev::nexios::kubernetes:core/v1:Secret::orphan", "", false, "refers to urn:pulumi:dev::nexios::pulumi:providers:kubernetes::gone, not in the state; if its object nexios-dev/orphan-1 exists"},
		{namespaceURN, "", false, "already tracks it"},
		{configURN, "nexios-dev/nexios-env-new", true, "the object it was replacing is deleted by the next up"},
		{"urn:pulumi:dev::nexios::kubernetes:core/v1:Secret::odd", "", false, "its inputs cannot be read"},
		{"urn:pulumi:dev::nexios::aws:s3/bucket:Bucket::b", "", false, "cannot look aws objects up"},
	}
	if len(resolutions) != len(want) {
		t.Fatalf("%d resolutions, want %d: %v", len(resolutions), len(want), resolutions)
	}
	for i, w := range want {
		r := resolutions[i]
		if r.urn != w.urn || r.id != w.id || r.adopted != w.adopted || !strings.Contains(r.String(), w.note) {
			t.Errorf("resolution %d = %q (adopted %v, id %q), want %s adopted=%v id %q noting %q", i, r, r.adopted, r.id, w.urn, w.adopted, w.id, w.note)
		}
	}

	// The adopted resources follow every resource they refer to, carry their object's ID and the mark
	// the refresh clears, and keep their inputs (secrets as ciphertext).
	if len(got.Resources) != 8 {
		t.Fatalf("%d resources, want the 5 tracked and 3 adopted", len(got.Resources))
	}
	byID := map[string]map[string]any{}
	for _, r := range got.Resources[5:] {
		id, _ := r["id"].(string)
		byID[id] = r
		if errs, _ := r["initErrors"].([]any); len(errs) != 1 || errs[0] != adoptedInitError {
			t.Errorf("adopted %s: initErrors %v", id, r["initErrors"])
		}
	}
	service := byID["nexios-dev/nexios-service-1a2b"]
	if service["urn"] != serviceURN || service["provider"] != providerURN+"::prov-1" || !strings.Contains(string(out), "v1:CIPHER") {
		t.Errorf("the adopted Service lost its fields: %v", service)
	}
	old := got.Resources[4]
	if old["urn"] != configURN || old["delete"] != true || old["additionalSecretOutputs"] == nil {
		t.Errorf("the replaced ConfigMap is not marked for deletion with its fields kept: %v", old)
	}
	if _, ok := byID["nexios-dev/nexios-env-new"]; !ok {
		t.Errorf("the replacement ConfigMap is not adopted: %v", byID)
	}
}

func TestResolvePendingWithNothingPendingLeavesTheStateAlone(t *testing.T) {
	for _, state := range []string{`{"resources": []}`, `{"resources": [], "pending_operations": []}`, `{"pending_operations": null}`} {
		out, resolutions, err := resolvePending(json.RawMessage(state))
		if err != nil || len(resolutions) != 0 || string(out) != state {
			t.Errorf("%s: got %s, %v, %v; want it unchanged", state, out, resolutions, err)
		}
	}
}

func TestResolvePendingRejectsMalformedState(t *testing.T) {
	for _, state := range []string{
		``, `null`, `[]`, `"state"`, `{"pending_operations": {}}`,
		`{"pending_operations": [{"type": "creating"}]}`,
		`{"pending_operations": [{"type": "creating", "resource": []}]}`,
		`{"pending_operations": [{"type": "creating", "resource": {"urn": 7}}]}`,
		`{"resources": {}, "pending_operations": [{"type": "creating", "resource": {"urn": "u"}}]}`,
		`{"resources": [1], "pending_operations": [{"type": "creating", "resource": {"urn": "u"}}]}`,
	} {
		if _, _, err := resolvePending(json.RawMessage(state)); err == nil {
			t.Errorf("%q: no error", state)
		}
	}
	// Every truncation of a real state is an error or a result, never a panic.
	for i := range len(syntheticState) {
		_, _, _ = resolvePending(json.RawMessage(syntheticState[:i]))
	}
}

func TestClassifyLocks(t *testing.T) {
	at := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	locks := []lock{
		{path: "dead", PID: 101, Hostname: "here", Username: "ci", Timestamp: at},
		{path: "live", PID: 102, Hostname: "here", Username: "ci", Timestamp: at},
		{path: "reused", PID: 103, Hostname: "here", Username: "ci", Timestamp: at},
		{path: "remote", PID: 101, Hostname: "runner-7", Username: "ci", Timestamp: at},
		{path: "garbled"},
	}
	alive := func(pid int) (bool, bool) {
		switch pid {
		case 102:
			return true, true
		case 103:
			return true, false
		}
		return false, false
	}
	dead, held := classifyLocks(locks, "here", alive)
	if len(dead) != 2 || dead[0].path != "dead" || dead[1].path != "reused" {
		t.Errorf("dead locks %v, want the dead process's and the reused pid's", dead)
	}
	text := strings.Join(held, "\n")
	for _, want := range []string{"live: a live Pulumi CLI on this machine (pid 102, ci@here, since 2026-12-01T05:00:00Z)", "remote: a run on another machine", "garbled: unreadable lock"} {
		if !strings.Contains(text, want) {
			t.Errorf("held locks lack %q:\n%s", want, text)
		}
	}
}

func TestReadLocksReadsOnlyTheStacksLocks(t *testing.T) {
	backend := t.TempDir()
	write := func(rel, content string) {
		path := filepath.Join(backend, ".pulumi", "locks", rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("organization/nexios/dev/a.json", `{"pid": 42, "username": "ci", "hostname": "here", "timestamp": "2026-12-01T05:00:00Z"}`)
	write("organization/nexios/dev/b.json", `not json`)
	write("organization/nexios/prod/c.json", `{"pid": 43, "hostname": "here"}`)
	write("organization/other/dev/d.json", `{"pid": 44, "hostname": "here"}`)
	write("dev/e.json", `{"pid": 45, "hostname": "here"}`)
	locks, err := readLocks(backend, "nexios", "dev")
	if err != nil {
		t.Fatal(err)
	}
	pids := map[int]bool{}
	for _, l := range locks {
		pids[l.PID] = true
	}
	if len(locks) != 3 || !pids[42] || !pids[0] || !pids[45] {
		t.Errorf("locks %+v, want dev's two (one unreadable, so pid 0) and the legacy one", locks)
	}
	if locks, err := readLocks(t.TempDir(), "nexios", "dev"); err != nil || len(locks) != 0 {
		t.Errorf("a backend without locks: %v, %v", locks, err)
	}
}

func TestFileBackendDir(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip(err)
	}
	for url, want := range map[string]string{
		"file:///work/main/.state":        "/work/main/.state",
		"file://~/state":                  filepath.Join(home, "state"),
		"file:///srv/state?no_tmp_dir=on": "/srv/state",
		"s3://bucket/state":               "",
		"https://api.pulumi.com":          "",
		"file://":                         "",
	} {
		got, ok := fileBackendDir(url)
		if got != want || ok != (want != "") {
			t.Errorf("fileBackendDir(%q) = %q, %v; want %q", url, got, ok, want)
		}
	}
}

func TestProjectName(t *testing.T) {
	dir := t.TempDir()
	if _, err := projectName(dir); err == nil {
		t.Error("no Pulumi.yaml: no error")
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte("name: nexios\nruntime: go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if name, err := projectName(dir); name != "nexios" || err != nil {
		t.Errorf("projectName = %q, %v", name, err)
	}
}

func TestLeftoversCountsPendingAndUnreadAdoptions(t *testing.T) {
	repaired, _, err := resolvePending(json.RawMessage(syntheticState))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		state           string
		pending, unread int
	}{
		{syntheticState, 10, 0},
		{string(repaired), 0, 3},
		{`{"resources": [{"urn": "u", "initErrors": ["the pods never became ready"]}]}`, 0, 0},
		{`{}`, 0, 0},
	} {
		pending, unread, err := leftovers(json.RawMessage(tt.state))
		if err != nil || pending != tt.pending || unread != tt.unread {
			t.Errorf("leftovers = %d pending, %d unread, %v; want %d, %d", pending, unread, err, tt.pending, tt.unread)
		}
	}
	if _, _, err := leftovers(json.RawMessage(`{"resources": 1}`)); err == nil {
		t.Error("malformed state: no error")
	}
}

func TestRepairStateSidecarsRemovesOnlyTheStacksUnreadableOnes(t *testing.T) {
	backend := t.TempDir()
	dir := filepath.Join(backend, ".pulumi", "stacks", "nexios")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"dev.json":           `{"version": 3}`,
		"dev.json.attrs":     ``, // truncated by a killed write
		"dev.json.bak.attrs": `{"user.content_type": "application/json"}`,
		"prod.json.attrs":    ``, // another stack's: not recover's business
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := repairStateSidecars(backend, "nexios", "dev")
	if err != nil || len(removed) != 1 || filepath.Base(removed[0]) != "dev.json.attrs" {
		t.Fatalf("removed %v, %v; want dev.json.attrs only", removed, err)
	}
	for name := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := err != nil; gone != (name == "dev.json.attrs") {
			t.Errorf("%s: gone = %v", name, gone)
		}
	}
	if removed, err := repairStateSidecars(t.TempDir(), "nexios", "dev"); err != nil || len(removed) != 0 {
		t.Errorf("an empty backend: %v, %v", removed, err)
	}
}

// TestStateOutputs reads the stack's outputs from exported deployments as `pulumi stack export`
// writes them, with and without --show-secrets: plain values as they are, a secret's plaintext flagged
// secret, a secret's ciphertext flagged secret with no value (never shown), and a secret with neither
// refused.
func TestStateOutputs(t *testing.T) {
	const secret = `{"4dabf18193072939515e22adb298388d":"1b47061264138c4ac30d75fd1eb44270","plaintext":"\"postgresql://u:pw@db/x\""}`
	tests := []struct {
		name       string
		deployment string
		want       auto.OutputMap
		wantErr    string
	}{
		{
			name: "plain and secret outputs of the stack, none of other resources",
			deployment: `{"resources":[
				{"type":"pulumi:pulumi:Stack","outputs":{"serviceName":"nexios-service","servicePort":80,"databaseUrl":` + secret + `}},
				{"type":"kubernetes:core/v1:Service","outputs":{"serviceName":"not an export"}}]}`,
			want: auto.OutputMap{
				"serviceName": {Value: "nexios-service"},
				"servicePort": {Value: float64(80)},
				"databaseUrl": {Value: "postgresql://u:pw@db/x", Secret: true},
			},
		},
		{name: "no resources", deployment: `{"resources":[]}`, want: auto.OutputMap{}},
		{
			name:       "a secret exported encrypted",
			deployment: `{"resources":[{"type":"pulumi:pulumi:Stack","outputs":{"port":80,"databaseUrl":{"4dabf18193072939515e22adb298388d":"1b47061264138c4ac30d75fd1eb44270","ciphertext":"v1:abc"}}}]}`,
			want:       auto.OutputMap{"port": {Value: float64(80)}, "databaseUrl": {Secret: true}},
		},
		{
			name:       "a secret with neither its plaintext nor its ciphertext",
			deployment: `{"resources":[{"type":"pulumi:pulumi:Stack","outputs":{"databaseUrl":{"4dabf18193072939515e22adb298388d":"1b47061264138c4ac30d75fd1eb44270"}}}]}`,
			wantErr:    "output databaseUrl: a secret exported with neither its plaintext nor its ciphertext",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stateOutputs(json.RawMessage(tt.deployment))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("stateOutputs = %v (err %v), want %v", got, err, tt.want)
			}
		})
	}
}
