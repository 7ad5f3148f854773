package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeCLISource is a Pulumi CLI stand-in built as a Go binary with the version a real build records,
// so deploy can read it without running it. It logs each run's arguments and answers the calls that
// open a stack, and those of an update that changes nothing.
const fakeCLISource = `package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	args := strings.Join(os.Args[1:], " ")
	log, err := os.OpenFile(os.Getenv("FAKE_PULUMI_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		os.Exit(3)
	}
	fmt.Fprintln(log, args)
	log.Close()
	switch {
	case strings.Contains(args, "stack select"):
	case strings.Contains(args, " config "):
		fmt.Print("{\"nexios:app\": {\"value\": \"{\\\"image\\\":\\\"ghcr.io/nexios-labs/nexios-app:1.0.0\\\"}\", \"secret\": false}}")
	case strings.Contains(args, "stack export"):
		fmt.Print("{\"version\": 3, \"deployment\": {\"resources\": []}}")
	case strings.Contains(args, "stack output"):
		fmt.Print("{}")
	case strings.Contains(args, "stack history"):
		fmt.Print("[]")
	case strings.HasPrefix(args, "--non-interactive up "):
	default:
		os.Exit(1)
	}
}
`

// enterFakeCLIProject makes a project of one dev stack whose CLI is fakeCLISource, and works in it.
func enterFakeCLIProject(t *testing.T) {
	t.Helper()
	root, _ := fakeProject(t, map[string]string{"dev": "config:\n  nexios:app:\n    image: ghcr.io/nexios-labs/nexios-app:1.0.0\n"})
	// In place of fakeProject's shell script, which records no version.
	if err := os.Remove(filepath.Join(root, "bin", "pulumi")); err != nil {
		t.Fatal(err)
	}
	buildGoProgram(t, filepath.Join(root, "bin", "pulumi"), fakeCLISource, "-X "+cliVersionSymbol+"=v3.274.1")
	t.Chdir(root)
	t.Setenv("PULUMI_BACKEND_URL", "")
	t.Setenv("KUBECONFIG", "")
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "")
}

// cliCalls reads the fake CLI's log: one run's arguments a line, the flag deploy adds to each left out.
func cliCalls(t *testing.T, log string) []string {
	t.Helper()
	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	for line := range strings.Lines(string(raw)) {
		calls = append(calls, strings.TrimPrefix(strings.TrimSpace(line), "--non-interactive "))
	}
	return calls
}

// TestOpeningAStackRunsTheCLIOnlyAsNeeded guards what opening a stack costs without timing it: no
// "pulumi version" (the version is read from the binary), the stack selected, its configuration read,
// and its state exported only for the commands that read it first, with secrets decrypted only for
// outputs --show-secrets.
func TestOpeningAStackRunsTheCLIOnlyAsNeeded(t *testing.T) {
	enterFakeCLIProject(t)

	for _, tc := range []struct {
		name        string
		opts        options
		wantExport  string // the export's arguments, "" for none
		stateOpened bool
	}{
		{"up", options{command: "up"}, "stack export --stack dev", true},
		{"destroy", options{command: "destroy"}, "stack export --stack dev", true},
		{"outputs", options{command: "outputs"}, "stack export --stack dev", true},
		{"outputs --show-secrets", options{command: "outputs", showSecrets: true}, "stack export --stack dev --show-secrets", true},
		{"preview", options{command: "preview"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "calls")
			t.Setenv("FAKE_PULUMI_LOG", log)
			opts := tc.opts
			opts.stack, opts.cluster, opts.secretsProvider = "dev", "auto", "passphrase"
			var stdout, stderr bytes.Buffer
			d, err := newDeployer(context.Background(), opts, &stdout, &stderr)
			if err != nil {
				t.Fatalf("newDeployer: %v", err)
			}
			if (d.openingState != nil) != tc.stateOpened {
				t.Errorf("state fetched on opening: %v, want %v", d.openingState != nil, tc.stateOpened)
			}
			if tc.stateOpened {
				if state, err := d.exportState(context.Background()); err != nil || !strings.Contains(string(state.Deployment), "resources") {
					t.Errorf("exportState: %s, %v", state.Deployment, err)
				}
			}
			calls := cliCalls(t, log)
			want := []string{"config --show-secrets --json --stack dev", "stack select --stack dev"}
			if tc.wantExport != "" {
				want = append(want, tc.wantExport)
			}
			slices.Sort(calls)
			slices.Sort(want)
			if !slices.Equal(calls, want) {
				t.Errorf("CLI runs:\n  %s\nwant:\n  %s", strings.Join(calls, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// TestEngineRunsReadTheirSummaryWithoutSecrets: the Automation API ends an update (and a refresh, and a
// destroy, which take the same summarySecrets) with a `stack history` run for a summary deploy does not
// read; it must not decrypt the stack's secrets. (A refresh's events would need the engine's own
// events server, which this stand-in does not feed.)
func TestEngineRunsReadTheirSummaryWithoutSecrets(t *testing.T) {
	enterFakeCLIProject(t)
	log := filepath.Join(t.TempDir(), "calls")
	t.Setenv("FAKE_PULUMI_LOG", log)
	ctx := context.Background()
	d, err := newDeployer(ctx, options{command: "up", stack: "dev", cluster: "auto", secretsProvider: "passphrase"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("newDeployer: %v", err)
	}
	if _, err := d.update(ctx, true); err != nil {
		t.Fatalf("update: %v", err)
	}
	var history []string
	for _, call := range cliCalls(t, log) {
		if strings.HasPrefix(call, "stack history") {
			history = append(history, call)
		}
	}
	if len(history) != 1 {
		t.Fatalf("%d stack history runs, want the one after the update: %q", len(history), history)
	}
	for _, call := range history {
		if strings.Contains(call, "--show-secrets") {
			t.Errorf("%q decrypts the stack's secrets for a summary nobody reads", call)
		}
	}
}
