package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/stacks"
)

// fakeProject lays out a project whose bin/pulumi only logs its arguments to pulumi.log: "version"
// answers like the real CLI, anything else fails, so no backend is ever written. It returns the root
// and the log's path.
func fakeProject(t *testing.T, stackFiles map[string]string) (string, string) {
	t.Helper()
	root := t.TempDir()
	log := filepath.Join(root, "pulumi.log")
	files := map[string]string{
		"go.mod":      "module github.com/nexios-labs/nexios-k8s\n",
		"Pulumi.yaml": "name: nexios\nruntime: go\nconfig:\n  app:\n    type: object\n    default: {}\n",
		"bin/pulumi": "#!/bin/sh\necho \"$*\" >> '" + log + "'\n" +
			"if [ \"$1\" = version ]; then echo v3.274.1; exit 0; fi\necho 'fake pulumi' >&2; exit 1\n",
		"bin/pulumi-resource-kubernetes":     "#!/bin/sh\nexit 1\n",
		"bin/.stamps/pulumi-resource-random": "stand-in\n",
	}
	for stack, body := range stackFiles {
		files["Pulumi."+stack+".yaml"] = body
	}
	for name, body := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root, log
}

// An invalid stack file must be rejected before the CLI runs at all: opening the stack would create
// it in the backend. The valid stack is the control: the same setup does reach the CLI.
func TestInvalidStackLeavesTheBackendUntouched(t *testing.T) {
	root, log := fakeProject(t, map[string]string{
		"broken": "config:\n  nexios:environment: dev\n  nexios:app:\n    image: ghcr.io/nexios-labs/nexios-app:1.0.0\n    replcas: 2\n    replicas: three\n",
		"dev":    "config:\n  nexios:app:\n    image: ghcr.io/nexios-labs/nexios-app:1.0.0\n",
	})
	t.Chdir(root)
	t.Setenv("PULUMI_BACKEND_URL", "")
	t.Setenv("KUBECONFIG", "")
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "")
	os.Unsetenv("PULUMI_CONFIG_PASSPHRASE")
	t.Setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "")
	os.Unsetenv("PULUMI_CONFIG_PASSPHRASE_FILE")
	ctx := context.Background()
	var stdout, stderr bytes.Buffer

	opts := options{command: "preview", stack: "broken", cluster: "auto", secretsProvider: "passphrase"}
	_, err := newDeployer(ctx, opts, &stdout, &stderr)
	var input inputError
	var cerr *stacks.ConfigError
	if !errors.As(err, &input) || !errors.As(err, &cerr) {
		t.Fatalf("want an input error listing the configuration problems, got %T: %v", err, err)
	}
	for _, want := range []string{"nexios:app.replcas: unknown key", "nexios:app.replicas: expected a whole number"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := os.Stat(log); !errors.Is(err, os.ErrNotExist) {
		calls, _ := os.ReadFile(log)
		t.Errorf("the Pulumi CLI ran for an invalid stack:\n%s", calls)
	}
	if _, err := os.Stat(filepath.Join(root, ".state")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the backend folder was created for an invalid stack: %v", err)
	}

	opts.stack = "dev"
	if _, err := newDeployer(ctx, opts, &stdout, &stderr); err == nil || errors.As(err, &cerr) {
		t.Fatalf("the fake CLI cannot open a stack; want its failure, got %v", err)
	}
	if calls, err := os.ReadFile(log); err != nil || !strings.Contains(string(calls), "version") {
		t.Errorf("the control run never reached the CLI (log: %q, %v): the test cannot see a CLI call", calls, err)
	}
}

func TestCheckStackFilesNamesAnUnreadableFile(t *testing.T) {
	root, _ := fakeProject(t, map[string]string{"dev": "config:\n  nexios:app: [\n"})
	err := checkStackFiles(root, "dev")
	if err == nil || !strings.Contains(err.Error(), "Pulumi.dev.yaml") {
		t.Errorf("want an error naming the stack file, got %v", err)
	}
}
