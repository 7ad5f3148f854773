package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/nexios-labs/nexios-k8s/stacks"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		check   func(t *testing.T, o options)
	}{
		{args: []string{"up", "dev"}, check: func(t *testing.T, o options) {
			if o.command != "up" || o.stack != "dev" || o.cluster != "auto" || o.secretsProvider != "passphrase" {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"preview", "prod", "--diff", "--expect-no-changes", "--json", "--summary-file", "/tmp/s.md"}, check: func(t *testing.T, o options) {
			if !o.diff || !o.expectNoChanges || !o.json || o.summaryFile != "/tmp/s.md" {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"destroy", "prod", "--confirm", "prod"}, check: func(t *testing.T, o options) {
			if o.confirm != "prod" {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"render", "dev", "--out", "out/dev", "--cluster", "kubeconfig"}, check: func(t *testing.T, o options) {
			if o.out != "out/dev" || o.cluster != "kubeconfig" {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"recover", "dev", "--cluster", "local"}, check: func(t *testing.T, o options) {
			if o.command != "recover" || o.stack != "dev" || o.cluster != "local" {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"preview", "dev", "--policy-report", "out/policy.sarif"}, check: func(t *testing.T, o options) {
			if o.policyReport != "out/policy.sarif" {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"up", "dev", "--policy-report", "p.sarif"}, wantErr: "up does not take --policy-report"},
		{args: []string{"up", "prod", "--allow-destructive", "--confirm", "prod"}, check: func(t *testing.T, o options) {
			if !o.allowDestructive || o.confirm != "prod" {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"drift", "dev", "--json", "--summary-file", "/tmp/d.md"}, check: func(t *testing.T, o options) {
			if o.command != "drift" || !o.json || o.summaryFile != "/tmp/d.md" {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"up", "dev", "--verify"}, check: func(t *testing.T, o options) {
			if !o.verify {
				t.Errorf("got %+v", o)
			}
		}},
		{args: []string{"rollback", "dev", "--verify"}, wantErr: "rollback does not take --verify"},
		{args: []string{"preview", "dev", "--verify"}, wantErr: "preview does not take --verify"},
		{args: []string{"drift", "dev", "--expect-no-changes"}, wantErr: "drift does not take --expect-no-changes"},
		{args: []string{"preview", "dev", "--allow-destructive"}, wantErr: "preview does not take --allow-destructive"},
		{args: []string{"recover", "dev", "--expect-no-changes"}, wantErr: "recover does not take --expect-no-changes"},
		{args: []string{"up"}, wantErr: "usage"},
		{args: []string{"--diff", "dev"}, wantErr: "usage"},
		{args: []string{"deploy", "dev"}, wantErr: `unknown command "deploy"`},
		{args: []string{"up", "dev", "--diff"}, wantErr: "up does not take --diff"},
		{args: []string{"outputs", "dev", "--confirm", "dev"}, wantErr: "outputs does not take --confirm"},
		{args: []string{"render", "dev"}, wantErr: "render needs --out"},
		{args: []string{"up", "dev", "--cluster", "kind"}, wantErr: "--cluster must be"},
		{args: []string{"up", "dev", "extra"}, wantErr: `unexpected argument "extra"`},
		{args: []string{"up", "dev", "--no-such-flag"}, wantErr: "no-such-flag"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseArgs(tt.args, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want error containing %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseArgs: %v", err)
			}
			tt.check(t, o)
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"help"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "Exit codes") {
		t.Errorf("help: code %d, output %q", code, stdout.String())
	}
	if code := run(context.Background(), []string{"launch", "dev"}, &stdout, &stderr); code != exitInvalid {
		t.Errorf("unknown command: code %d, want %d", code, exitInvalid)
	}
}

func TestReport(t *testing.T) {
	opts := options{stack: "dev"}
	engine := func(stderr string) error {
		return errors.New("failed to run update: exit status 255\ncode: 255\nstdout: lots of progress\nstderr: " + stderr)
	}
	tests := []struct {
		name string
		err  error
		code int
		want string
	}{
		{"success", nil, exitOK, ""},
		{"changes", changesFound(2), exitChanges, "2 resource(s) would change"},
		{"drift", driftFound(3), exitDrift, "3 resource(s) drifted"},
		{"release failed its bake", verifyError{stack: "dev", problems: []string{"pod a restarted 1 time(s)"}}, exitVerify, "failed verification and was rolled back: pod a restarted"},
		{"invalid config", invalid(&stacks.ConfigError{Stack: "dev", Problems: []stacks.Problem{{Key: "nexios:app.image", Message: "is required"}}}), exitInvalid, "nexios:app.image: is required"},
		{"locked", engine("error: the stack is currently locked by 1 lock(s)."), exitFailed, "`deploy cancel dev`"},
		{"passphrase", engine("error: incorrect passphrase, please set PULUMI_CONFIG_PASSPHRASE"), exitInvalid, "PULUMI_CONFIG_PASSPHRASE"},
		{"unreachable", engine("configured Kubernetes cluster is unreachable: dial tcp 127.0.0.1:6443: connect: connection refused"), exitFailed, "`make cluster`"},
		{"other", engine("error: something else"), exitFailed, "something else"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := report(&stderr, opts, tt.err); code != tt.code {
				t.Errorf("code = %d, want %d", code, tt.code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.want)
			}
			if strings.Contains(stderr.String(), "lots of progress") {
				t.Error("the CLI's stdout is repeated in the error")
			}
		})
	}
}

func TestBlankSecretValues(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v1-secret.yaml")
	manifest := `apiVersion: v1
kind: Secret
metadata:
  name: nexios-secret
data:
  database-url: cG9zdGdyZXNxbDovL3U6aHVudGVyMkBkYi94
stringData:
  secret-key: hunter2
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: env
data:
  LOG_LEVEL: debug
`
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := blankSecretValues(path); err != nil {
		t.Fatalf("blankSecretValues: %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(got)
	for _, secret := range []string{"hunter2", "cG9zdGdyZXNxbDovL3U6aHVudGVyMkBkYi94"} {
		if strings.Contains(text, secret) {
			t.Errorf("secret value %q survived:\n%s", secret, text)
		}
	}
	for _, kept := range []string{"database-url:", "secret-key:", "LOG_LEVEL: debug"} {
		if !strings.Contains(text, kept) {
			t.Errorf("%q was lost:\n%s", kept, text)
		}
	}
}

func TestChangeSummary(t *testing.T) {
	s := changeSummary{
		Stack:     "dev",
		Operation: "Preview",
		Totals:    map[string]int{"create": 2, "same": 5, "update": 1},
		ByType:    map[string]map[string]int{"kubernetes:apps/v1:Deployment": {"update": 1}, "kubernetes:core/v1:Secret": {"create": 2}, "kubernetes:core/v1:Service": {"same": 1}},
		Changed:   3,
		Diff:      "~ spec.replicas: 1 => 2",
		Resources: []resourceChange{
			{URN: urn(deploymentType, "app"), Type: deploymentType, Operation: "update", Risk: riskRestartsPods,
				Risks:   []risk{{riskRestartsPods, "the pod template changes"}},
				Changes: []propertyChange{{Path: "spec.template.spec.containers[0].image", Kind: "update", Old: "app:1", New: "app:2"}}},
			{URN: urn(serviceType, "app"), Type: serviceType, Operation: "same", Risk: riskSafe},
		},
	}
	lines := strings.Join(s.lines(), "\n")
	for _, want := range []string{"kubernetes:apps/v1:Deployment", "update 1", "create 2", "stack dev: 3 to change",
		"update   kubernetes:apps/v1:Deployment app  [restarts-pods]", `spec.template.spec.containers[0].image: "app:1" -> "app:2"`} {
		if !strings.Contains(lines, want) {
			t.Errorf("lines lack %q:\n%s", want, lines)
		}
	}
	if strings.Contains(lines, "kubernetes:core/v1:Service") {
		t.Errorf("unchanged types are listed:\n%s", lines)
	}
	md := s.markdown()
	for _, want := range []string{"### Preview of stack `dev`: 3 to change", "| `kubernetes:core/v1:Secret` | create 2 |", "```diff", "spec.replicas",
		"| update | `kubernetes:apps/v1:Deployment` `app` | restarts-pods<br>the pod template changes | `spec.template.spec.containers[0].image`: \"app:1\" -> \"app:2\" |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "`kubernetes:core/v1:Service` `app`") {
		t.Errorf("an unchanged resource is listed:\n%s", md)
	}
}

func TestPrintOutputsMasksSecrets(t *testing.T) {
	outs := auto.OutputMap{
		"namespace": {Value: "nexios-dev"},
		"token":     {Value: "hunter2", Secret: true},
	}
	for _, asJSON := range []bool{false, true} {
		var buf bytes.Buffer
		if err := printOutputs(&buf, outs, asJSON, false); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), "hunter2") || !strings.Contains(buf.String(), secretMask) || !strings.Contains(buf.String(), "nexios-dev") {
			t.Errorf("json=%v: %s", asJSON, buf.String())
		}
		buf.Reset()
		if err := printOutputs(&buf, outs, asJSON, true); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "hunter2") {
			t.Errorf("json=%v --show-secrets hides the value: %s", asJSON, buf.String())
		}
	}
}

func TestEnvironmentOfStackFile(t *testing.T) {
	dir := t.TempDir()
	write := func(stack, body string) {
		if err := os.WriteFile(filepath.Join(dir, "Pulumi."+stack+".yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("dev", "config:\n  nexios:app:\n    image: x:1\n")
	write("staging", "config:\n  nexios:environment: prod\n")
	write("qa", "config: {}\n")
	tests := []struct {
		stack string
		want  stacks.Environment
		err   bool
	}{{"dev", stacks.Dev, false}, {"staging", stacks.Prod, false}, {"qa", "", true}}
	for _, tt := range tests {
		got, err := environmentOfStackFile(dir, tt.stack)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q, error %v", tt.stack, got, err, tt.want, tt.err)
		}
	}
}

func TestUsesLocalCluster(t *testing.T) {
	tests := []struct {
		name       string
		flag       string
		target     stacks.Target
		kubeconfig string
		want       bool
	}{
		{"nothing configured", "auto", stacks.Target{}, "", true},
		{"KUBECONFIG set", "auto", stacks.Target{}, "/home/me/.kube/other", false},
		{"stack context", "auto", stacks.Target{Context: "prod-eu"}, "", false},
		{"rendering", "auto", stacks.Target{RenderYAMLTo: "out"}, "", false},
		{"forced local", "local", stacks.Target{Context: "prod-eu"}, "", true},
		{"forced kubeconfig", "kubeconfig", stacks.Target{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tt.kubeconfig)
			d := &deployer{opts: options{cluster: tt.flag}, config: &stacks.Config{Target: tt.target}}
			if got := d.usesLocalCluster(); got != tt.want {
				t.Errorf("usesLocalCluster = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPassphraseDefaultsOnlyForLocalDev(t *testing.T) {
	tests := []struct {
		name       string
		env        stacks.Environment
		passphrase string
		set        bool
		kubeconfig string
		wantErr    bool
	}{
		{"dev on the local cluster", stacks.Dev, "", false, "", false},
		{"dev on another cluster", stacks.Dev, "", false, "/kube/other", true},
		{"prod without passphrase", stacks.Prod, "", false, "", true},
		{"prod with passphrase", stacks.Prod, "s3cret", true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tt.kubeconfig)
			t.Setenv("PULUMI_CONFIG_PASSPHRASE", tt.passphrase)
			t.Setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "")
			if !tt.set {
				os.Unsetenv("PULUMI_CONFIG_PASSPHRASE")
			}
			os.Unsetenv("PULUMI_CONFIG_PASSPHRASE_FILE")
			d := &deployer{opts: options{stack: "s", cluster: "auto", secretsProvider: "passphrase"}, env: map[string]string{}}
			err := d.resolvePassphrase(tt.env)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && d.env["PULUMI_CONFIG_PASSPHRASE"] != tt.passphrase {
				t.Errorf("passphrase passed on = %q", d.env["PULUMI_CONFIG_PASSPHRASE"])
			}
		})
	}
}

func TestReportNamesRecoverForAnUnreadableState(t *testing.T) {
	var stderr bytes.Buffer
	code := report(&stderr, options{stack: "dev"}, errors.New("exporting the state: error: failed to load checkpoint: EOF"))
	if code != exitFailed || !strings.Contains(stderr.String(), "`deploy recover dev` repairs it") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
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
