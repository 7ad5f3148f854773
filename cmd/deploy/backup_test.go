package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/nexios-labs/nexios-k8s/stacks"
)

func TestParseArgsBackupAndRestore(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		want    options
	}{
		{args: []string{"backup", "dev", "--out", "dev.json"}, want: options{out: "dev.json"}},
		{args: []string{"backup", "dev", "--out", "dev.json", "--overwrite"}, want: options{out: "dev.json", overwrite: true}},
		{args: []string{"restore", "prod", "--from", "prod.json", "--confirm", "prod"}, want: options{from: "prod.json", confirm: "prod"}},
		{args: []string{"backup", "dev"}, wantErr: "backup needs --out FILE"},
		{args: []string{"restore", "dev"}, wantErr: "restore needs --from FILE"},
		{args: []string{"backup", "dev", "--out", "f", "--confirm", "dev"}, wantErr: "backup does not take --confirm"},
		{args: []string{"restore", "dev", "--from", "f", "--overwrite"}, wantErr: "restore does not take --overwrite"},
		{args: []string{"render", "dev", "--out", "d", "--overwrite"}, wantErr: "render does not take --overwrite"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseArgs(tt.args, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseArgs: %v", err)
			}
			if o.out != tt.want.out || o.from != tt.want.from || o.confirm != tt.want.confirm || o.overwrite != tt.want.overwrite {
				t.Errorf("got %+v, want %+v", o, tt.want)
			}
		})
	}
}

// exported builds an exported state with the given URNs, written at the given time.
func exported(t *testing.T, written string, urns ...string) apitype.UntypedDeployment {
	t.Helper()
	type res struct {
		URN  string `json:"urn"`
		Type string `json:"type"`
	}
	resources := []res{}
	for _, u := range urns {
		parts := strings.Split(u, "::")
		resources = append(resources, res{URN: u, Type: parts[2]})
	}
	raw, err := json.Marshal(map[string]any{"manifest": map[string]any{"time": written}, "resources": resources})
	if err != nil {
		t.Fatal(err)
	}
	return apitype.UntypedDeployment{Version: 3, Deployment: raw}
}

const (
	devStackURN = "urn:pulumi:dev::nexios::pulumi:pulumi:Stack::nexios-dev"
	devNSURN    = "urn:pulumi:dev::nexios::kubernetes:core/v1:Namespace::app-ns"
)

func TestInspectBackup(t *testing.T) {
	tests := []struct {
		name    string
		state   apitype.UntypedDeployment
		want    stateInfo
		wantErr string
	}{
		{name: "a deployed stack", state: exported(t, "2026-12-01T10:00:00Z", devStackURN, devNSURN),
			want: stateInfo{project: "nexios", stack: "dev", resources: 2, updated: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}},
		{name: "an empty stack", state: exported(t, "2026-12-01T10:00:00Z"),
			want: stateInfo{updated: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}},
		{name: "no version", state: apitype.UntypedDeployment{Deployment: json.RawMessage(`{}`)}, wantErr: "no version"},
		{name: "not a deployment", state: apitype.UntypedDeployment{Version: 3, Deployment: json.RawMessage(`[1]`)}, wantErr: "reading the state's deployment"},
		{name: "resources without the stack", state: exported(t, "2026-12-01T10:00:00Z", devNSURN), wantErr: "include no pulumi:pulumi:Stack"},
		{name: "an invalid stack URN", state: apitype.UntypedDeployment{Version: 3, Deployment: json.RawMessage(`{"resources":[{"urn":"dev","type":"pulumi:pulumi:Stack"}]}`)},
			wantErr: "is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inspectBackup(tt.state)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.project != tt.want.project || got.stack != tt.want.stack || got.resources != tt.want.resources || !got.updated.Equal(tt.want.updated) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBackupMatchesOnlyItsOwnStack(t *testing.T) {
	dev := stateInfo{project: "nexios", stack: "dev", resources: 40}
	tests := []struct {
		name           string
		backup         stateInfo
		project, stack string
		wantErr        string
	}{
		{name: "its own stack", backup: dev, project: "nexios", stack: "dev"},
		{name: "another stack", backup: dev, project: "nexios", stack: "prod", wantErr: `the backup is of stack "dev" of project "nexios", not of stack "prod"`},
		{name: "another project", backup: dev, project: "billing", stack: "dev", wantErr: `not of stack "dev" of project "billing"`},
		{name: "an empty backup", backup: stateInfo{}, project: "nexios", stack: "dev", wantErr: "holds no resources"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.backup.matches(tt.project, tt.stack)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestRestoreAllowed(t *testing.T) {
	backup := stateInfo{project: "nexios", resources: 40}
	empty, deployed := stateInfo{}, stateInfo{project: "nexios", resources: 44}
	tests := []struct {
		name, stack string
		env         stacks.Environment
		confirm     string
		have        stateInfo
		wantErr     string
	}{
		{name: "dev, lost state", stack: "dev", env: stacks.Dev, have: empty},
		{name: "dev over a state", stack: "dev", env: stacks.Dev, have: deployed, wantErr: "--confirm dev"},
		{name: "dev over a state, confirmed", stack: "dev", env: stacks.Dev, confirm: "dev", have: deployed},
		{name: "dev over a state, another name", stack: "dev", env: stacks.Dev, confirm: "prod", have: deployed, wantErr: "has a state (44 resources"},
		{name: "prod, lost state", stack: "prod", env: stacks.Prod, have: empty, wantErr: "is a prod stack"},
		{name: "prod, confirmed", stack: "prod", env: stacks.Prod, confirm: "prod", have: deployed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backup.stack = tt.stack
			err := restoreAllowed(tt.stack, tt.env, tt.confirm, tt.have, backup)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteNewFile(t *testing.T) {
	tests := []struct {
		name      string
		existing  string // content before, "" for no file
		overwrite bool
		want      string
		wantErr   string
	}{
		{name: "a new file", want: "new"},
		{name: "an existing file is kept", existing: "old", want: "old", wantErr: "already exists: pass --overwrite"},
		{name: "an existing file with overwrite", existing: "old", overwrite: true, want: "new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "dev.json")
			if tt.existing != "" {
				if err := os.WriteFile(path, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := writeNewFile(path, []byte("new"), tt.overwrite)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			if got, _ := os.ReadFile(path); string(got) != tt.want {
				t.Errorf("file holds %q, want %q", got, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("the folder holds %d entries, want the file alone (no temporary left)", len(entries))
			}
			if info, err := os.Stat(path); err == nil && tt.existing == "" && info.Mode().Perm() != 0o600 {
				t.Errorf("a new backup has mode %v, want 0600: it holds the state", info.Mode().Perm())
			}
		})
	}
}

func TestPlaintextSecrets(t *testing.T) {
	const secret = `{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", `
	tests := []struct {
		name       string
		deployment string
		want       int
		wantErr    bool
	}{
		{name: "encrypted", deployment: `{"resources":[{"outputs":{"result":` + secret + `"ciphertext":"v1:abc"}}}]}`},
		{name: "decrypted, nested in a list", deployment: `{"resources":[{"outputs":{"env":[` + secret + `"plaintext":"\"key\""}]}},{"inputs":{"a":` + secret + `"plaintext":"1"}}}]}`, want: 2},
		{name: "a plaintext field that is no secret", deployment: `{"resources":[{"outputs":{"plaintext":"x"}}]}`},
		{name: "not JSON", deployment: `{`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := plaintextSecrets(json.RawMessage(tt.deployment))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v; want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
