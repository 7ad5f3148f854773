package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

// backupAndRestore backs the deployed dev stack's state up, loses it, restores it and checks that the
// restored stack matches the cluster: the README's "Backups" commands, run by the built command.
func backupAndRestore(ctx context.Context, t *testing.T, tc toolchain.Toolchain, p *pipeline) {
	t.Helper()
	backup := filepath.Join(t.TempDir(), "dev-state.json")
	r := p.mustRun(ctx, "backup", "dev", "--out", backup)
	if !strings.Contains(r.stdout, "backed up to "+backup) {
		t.Errorf("backup does not say where it wrote:\n%s", r.stdout)
	}
	raw, err := os.ReadFile(backup)
	if err != nil {
		t.Fatalf("reading the backup: %v", err)
	}
	secretKey := generatedSecretKey(ctx, t, tc, p)
	if strings.Contains(string(raw), secretKey) {
		t.Errorf("the backup holds the app's secret key in plain text")
	}
	// The secret is in the backup, encrypted: its absence in plain text is not an absence altogether.
	if !strings.Contains(string(raw), `"ciphertext"`) || !strings.Contains(string(raw), "app-secret-key") {
		t.Errorf("the backup lacks the encrypted app secret key")
	}

	t.Run("an existing backup is kept unless --overwrite", func(t *testing.T) {
		r := p.run(ctx, "backup", "dev", "--out", backup)
		if r.code != 2 || !strings.Contains(r.stderr, "pass --overwrite") {
			t.Errorf("backup over an existing file: exit %d, want 2 naming --overwrite:\n%s", r.code, r.stderr)
		}
		if again, _ := os.ReadFile(backup); string(again) != string(raw) {
			t.Errorf("the refused backup changed the file")
		}
		p.mustRun(ctx, "backup", "dev", "--out", backup, "--overwrite")
	})

	t.Run("restore over a state that holds resources needs --confirm, then runs", func(t *testing.T) {
		r := p.run(ctx, "restore", "dev", "--from", backup)
		if r.code != 2 || !strings.Contains(r.stderr, "run again with --confirm dev") {
			t.Errorf("restore over the deployed state: exit %d, want 2 naming --confirm dev:\n%s", r.code, r.stderr)
		}
		p.mustRun(ctx, "restore", "dev", "--from", backup, "--confirm", "dev")
		if r := p.run(ctx, "preview", "dev", "--expect-no-changes"); r.code != 0 {
			t.Errorf("preview after a confirmed restore: exit %d, want 0:\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})

	// The state is lost: every file the backend holds of the stack (checkpoint, backups, history).
	for _, path := range backendTraces(t, p.project, "dev") {
		if err := os.RemoveAll(path); err != nil {
			t.Fatalf("removing %s: %v", path, err)
		}
	}
	if r := p.run(ctx, "preview", "dev", "--expect-no-changes"); r.code != 3 {
		t.Fatalf("preview with the state lost: exit %d, want 3 (everything to create):\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	r = p.mustRun(ctx, "restore", "dev", "--from", backup)
	if !strings.Contains(r.stdout, "restored from "+backup) {
		t.Errorf("restore does not say what it restored:\n%s", r.stdout)
	}
	if r := p.run(ctx, "preview", "dev", "--expect-no-changes"); r.code != 0 {
		t.Errorf("preview after restore: exit %d, want 0 (the restored state matches the cluster):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The restored secrets open with the stack's passphrase, and are the deployed ones.
	if got := generatedSecretKey(ctx, t, tc, p); got != secretKey {
		t.Errorf("the restored state's app secret key differs from the deployed one")
	}
}
