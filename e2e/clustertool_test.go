package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

// TestClusterToolRefusesBadInput runs the built nexios-cluster the way `make cluster` does with input
// it must refuse: each run exits non-zero with one message naming the problem, and starts nothing
// (no state folder, no process).
func TestClusterToolRefusesBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: runs the built cluster tool; skipped under -short")
	}
	tc := requireTools(t)
	tool, err := tc.Path(toolchain.NexiosCluster)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		// asUser runs the tool as that uid (nobody), as a user without root would.
		asUser string
		want   string
	}{
		{name: "unknown flag", args: []string{"-real-node", "1"}, want: "flag provided but not defined: -real-node"},
		{name: "no simulated node", args: []string{"-nodes", "0"}, want: "nodes: 0, want 1 to 254"},
		{name: "two real nodes", args: []string{"-real-nodes", "2"}, want: "real-nodes: 2, want 0 or 1"},
		{name: "a real node without root", args: []string{"-real-nodes", "1"}, asUser: "65534", want: "a real node needs root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not t.TempDir(), whose parent only root may enter: the unprivileged user must reach the
			// state folder, or it would fail for that instead.
			state, err := os.MkdirTemp("", "nexios-refused-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(state) })
			if err := os.Chmod(state, 0o777); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"up", "-name", "refused", "-state-dir", state, "-bin-dir", tc.BinDir()}, tt.args...)
			name := tool
			if tt.asUser != "" {
				if os.Geteuid() != 0 {
					t.Skip("running as another user needs root")
				}
				args = append([]string{"--reuid=" + tt.asUser, "--regid=" + tt.asUser, "--clear-groups", tool}, args...)
				name = "setpriv"
			}
			cmd := exec.CommandContext(t.Context(), name, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err = cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("nexios-cluster %v: %v, want a non-zero exit", tt.args, err)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q, want it to name %q", stderr.String(), tt.want)
			}
			if _, err := os.Stat(filepath.Join(state, "refused")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused run left a state folder (%v): something was started", err)
			}
		})
	}
}
