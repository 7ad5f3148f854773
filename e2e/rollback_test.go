package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

// rollbackCluster is the rollback test's own local cluster.
const rollbackCluster = "nexios-e2e-rollback"

// TestRollback drives `deploy rollback` with the built command on simulated nodes: the dev stack is
// deployed, then changed in a plain setting, a secret setting and a rotation value; the rollback
// restores the earlier configuration in the cluster through up's gate, prints no secret, leaves the
// stack file alone and says so; a bad --to exits 2 naming the versions; a rollback whose plan is
// destructive is refused like up.
func TestRollback(t *testing.T) {
	ctx, tc, p := pipelineTest(t)
	cluster := p.onOwnCluster(ctx, rollbackCluster)

	const oldDatabaseURL, newDatabaseURL = "postgresql://app:OldPassw0rdRollback@db:5432/app", "postgresql://app:NewPassw0rdRollback@db:5432/app"
	// The stack exists before the command first runs, so its file can hold a secret from the start.
	if err := os.MkdirAll(filepath.Join(p.project, ".state"), 0o755); err != nil {
		t.Fatalf("creating the backend folder: %v", err)
	}
	pulumiCLI(ctx, t, tc, p, nil, nil, "stack", "init", "dev", "--secrets-provider", "passphrase")
	// The configured database instead of dev's in-cluster PostgreSQL, so the URL is a secret setting.
	pulumiCLI(ctx, t, tc, p, nil, nil, "config", "set", "--path", "--stack", "dev", "nexios:postgres.enabled", "false")
	setSecret(ctx, t, tc, p, "nexios:databaseUrl", oldDatabaseURL)
	first := p.mustRun(ctx, "up", "dev")
	kubeconfig, err := cluster.Kubeconfig(ctx)
	if err != nil {
		t.Fatalf("locating the cluster's kubeconfig: %v", err)
	}
	api := newAPIClient(t, kubeconfig)
	firstKey := generatedSecretKey(ctx, t, tc, p)

	// The second update: a plain setting, the secret and a rotation value changed.
	setSecret(ctx, t, tc, p, "nexios:databaseUrl", newDatabaseURL)
	_ = editStack(t, p, map[string]string{"LOG_LEVEL: debug": "LOG_LEVEL: info"}, "  nexios:secrets:\n    rotation:\n      appSecretKey: \"2\"\n")
	second := p.mustRun(ctx, "up", "dev")
	secondKey := generatedSecretKey(ctx, t, tc, p)
	if firstKey == secondKey {
		t.Fatal("the rotation did not change the generated key: the test proves nothing")
	}
	checkDeployed(t, api, currentOutputs(ctx, t, p), "info", newDatabaseURL)
	// A refresh in the history, which rollback must refuse as a target (up refreshes inside its own
	// update, which leaves no refresh entry).
	p.mustRun(ctx, "refresh", "dev")
	historyBefore := stackHistory(ctx, t, tc, p)
	stackFile, err := os.ReadFile(filepath.Join(p.project, "Pulumi.dev.yaml"))
	if err != nil {
		t.Fatalf("reading the stack file: %v", err)
	}

	t.Run("a bad --to exits 2 naming the versions", func(t *testing.T) {
		var successes []string
		refresh := 0
		for _, u := range historyBefore {
			if u.Kind == "update" && u.Result == "succeeded" {
				successes = append(successes, strconv.Itoa(u.Version)+" ("+u.StartTime+")")
			}
			if u.Kind == "refresh" && refresh == 0 {
				refresh = u.Version
			}
		}
		if len(successes) != 2 || refresh == 0 {
			t.Fatalf("want 2 successful updates and a refresh in the history, got %+v", historyBefore)
		}
		for to, want := range map[string]string{"99": "no version 99", strconv.Itoa(refresh): "is a refresh, not an update"} {
			r := p.run(ctx, "rollback", "dev", "--to", to)
			if r.code != 2 {
				t.Errorf("rollback --to %s: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", to, r.code, r.stdout, r.stderr)
			}
			for _, w := range []string{want, "successful updates to roll back to: " + strings.Join(successes, ", ")} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("rollback --to %s: stderr lacks %q:\n%s", to, w, r.stderr)
				}
			}
		}
		if after := stackHistory(ctx, t, tc, p); len(after) != len(historyBefore) {
			t.Errorf("a refused rollback added %d run(s) to the history", len(after)-len(historyBefore))
		}
	})

	t.Run("rollback restores the earlier configuration", func(t *testing.T) {
		r := p.mustRun(ctx, "rollback", "dev")
		for _, want := range []string{
			"rolling back to the configuration of update",
			"keys that differ from Pulumi.dev.yaml: nexios:app, nexios:databaseUrl, nexios:secrets",
			"Plan of stack dev:",
			"Pulumi.dev.yaml still holds the newer configuration",
			"restores configuration, not code",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("rollback's output lacks %q:\n%s", want, r.stdout)
			}
		}
		thirdKey := generatedSecretKey(ctx, t, tc, p)
		// A rotation value changed back regenerates the key: pulumi-random keeps no earlier value.
		if thirdKey == secondKey || thirdKey == firstKey {
			t.Errorf("the generated key after the rollback is the %s one, want a new one as documented", map[bool]string{true: "first", false: "second"}[thirdKey == firstKey])
		}
		checkDeployed(t, api, currentOutputs(ctx, t, p), "debug", oldDatabaseURL)
		outputs := first.stdout + first.stderr + second.stdout + second.stderr + r.stdout + r.stderr
		for name, secret := range map[string]string{"the first key": firstKey, "the second key": secondKey, "the third key": thirdKey, "the old database URL": oldDatabaseURL, "the new database URL": newDatabaseURL} {
			for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
				if strings.Contains(outputs, form) {
					t.Errorf("the commands printed %s", name)
				}
			}
		}
		history := stackHistory(ctx, t, tc, p)
		latest := history[0]
		if len(history) <= len(historyBefore) || latest.Kind != "update" || latest.Result != "succeeded" {
			t.Fatalf("the history's latest run after the rollback is %+v, want a new successful update", latest)
		}
		if app := latest.Config["nexios:app"].Value; app == nil || !strings.Contains(*app, `"LOG_LEVEL":"debug"`) {
			t.Errorf("the rollback's update recorded nexios:app = %v, want LOG_LEVEL debug", app)
		}
		if now, err := os.ReadFile(filepath.Join(p.project, "Pulumi.dev.yaml")); err != nil || string(now) != string(stackFile) {
			t.Errorf("the rollback changed the stack file (err %v)", err)
		}
	})

	t.Run("a destructive rollback is refused without --allow-destructive", func(t *testing.T) {
		// The stack file moves the app to another namespace; rolling back moves it back, which
		// replaces the Namespace.
		restore := editStack(t, p, nil, "  nexios:target:\n    namespace: nexios-moved\n")
		defer restore()
		p.mustRun(ctx, "up", "dev", "--allow-destructive")
		before := stackHistory(ctx, t, tc, p)
		r := p.run(ctx, "rollback", "dev")
		if r.code != 2 {
			t.Fatalf("rollback: exit %d, want 2 (refused)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"destructive step", "nothing in the cluster was changed", "kubernetes:core/v1:Namespace", "data-loss", "--allow-destructive"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if code := api.get(t, "/api/v1/namespaces/nexios-moved", nil); code != http.StatusOK {
			t.Errorf("namespace nexios-moved answers HTTP %d after a refused rollback, want 200", code)
		}
		if code := api.get(t, "/api/v1/namespaces/nexios-dev", nil); code != http.StatusNotFound {
			t.Errorf("namespace nexios-dev answers HTTP %d after a refused rollback, want 404", code)
		}
		after := stackHistory(ctx, t, tc, p)
		for _, u := range after[:len(after)-len(before)] {
			if u.Kind == "update" {
				t.Errorf("a refused rollback ran update %d", u.Version)
			}
		}
	})
}

// checkDeployed checks the app's ConfigMap and Secret in the cluster.
func checkDeployed(t *testing.T, api apiClient, outputs map[string]string, logLevel, databaseURL string) {
	t.Helper()
	var cm struct {
		Data map[string]string `json:"data"`
	}
	api.get(t, "/api/v1/namespaces/nexios-dev/configmaps/"+outputs["configMapName"], &cm)
	if cm.Data["LOG_LEVEL"] != logLevel {
		t.Errorf("LOG_LEVEL of ConfigMap %s: %q, want %s", outputs["configMapName"], cm.Data["LOG_LEVEL"], logLevel)
	}
	var secret struct {
		Data map[string]string `json:"data"`
	}
	api.get(t, "/api/v1/namespaces/nexios-dev/secrets/"+outputs["appSecretName"], &secret)
	got, err := base64.StdEncoding.DecodeString(secret.Data["database-url"])
	if err != nil || string(got) != databaseURL {
		// Neither value is printed: both are secrets.
		t.Errorf("database-url of Secret %s is not the expected one (decoding error %v)", outputs["appSecretName"], err)
	}
}

// setSecret sets an encrypted value in the scratch project's dev stack file, the value on stdin.
func setSecret(ctx context.Context, t *testing.T, tc toolchain.Toolchain, p *pipeline, key, value string) {
	t.Helper()
	pulumiCLI(ctx, t, tc, p, nil, strings.NewReader(value), "config", "set", "--secret", "--stack", "dev", key)
}

// historyEntry is one run in `pulumi stack history --json`.
type historyEntry struct {
	Version   int    `json:"version"`
	Kind      string `json:"kind"`
	Result    string `json:"result"`
	StartTime string `json:"startTime"`
	Config    map[string]struct {
		Value  *string `json:"value"`
		Secret bool    `json:"secret"`
	} `json:"config"`
}

// stackHistory lists the dev stack's runs, newest first, secrets left out. The file backend records no
// versions: they are numbered as deploy numbers them, 1 the oldest.
func stackHistory(ctx context.Context, t *testing.T, tc toolchain.Toolchain, p *pipeline) []historyEntry {
	t.Helper()
	var history []historyEntry
	out := pulumiCLI(ctx, t, tc, p, nil, nil, "stack", "history", "--json", "--stack", "dev")
	if err := json.Unmarshal(out, &history); err != nil || len(history) == 0 {
		t.Fatalf("parsing the stack's history (%v):\n%s", err, out)
	}
	for i := range history {
		if history[i].Version != 0 {
			t.Fatalf("the file backend numbers its runs now (%d): number them as it does", history[i].Version)
		}
		history[i].Version = len(history) - i
	}
	return history
}
