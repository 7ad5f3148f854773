package proctree

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

func TestParseStatTakesTheFieldsAfterTheLastParenthesis(t *testing.T) {
	line := "4242 (a) b (c) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10"
	p, err := parseStat(4242, line)
	if err != nil {
		t.Fatal(err)
	}
	if p.PPID != 17 || p.State != 'S' || p.StartTime != 987654 || !p.Live() {
		t.Errorf("parsed %+v from %q", p, line)
	}
	for _, bad := range []string{"", "4242 (name", "4242 (name) S 17", "4242 (n) S x 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0", "4242 (n) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 x 0"} {
		if _, err := parseStat(4242, bad); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

// A plugin read before its CLI exited still names the CLI, now a zombie, as its parent: it is found.
func TestBelowWalksThroughZombies(t *testing.T) {
	table := []Process{
		{PID: 10, PPID: 1, State: 'S'},  // the supervisor
		{PID: 11, PPID: 10, State: 'Z'}, // the CLI, exited
		{PID: 12, PPID: 11, State: 'S'}, // its plugin, read before it was re-parented
		{PID: 13, PPID: 10, State: 'S'}, // another plugin, read after
		{PID: 14, PPID: 13, State: 'R'}, // and its child
		{PID: 20, PPID: 1, State: 'S'},  // unrelated
	}
	var pids []int
	for _, p := range below(table, 10) {
		pids = append(pids, p.PID)
	}
	if len(pids) != 3 || pids[0] != 13 || pids[1] != 12 || pids[2] != 14 {
		t.Errorf("below(10) = %v, want the live 13, 12 and 14, parents first", pids)
	}
}

func TestDescendantsFindsAChildWithAnOddName(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	odd := filepath.Join(t.TempDir(), "a) b (c")
	raw, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(odd, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(odd, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	below, err := Descendants(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, p := range below {
		if p.PID == cmd.Process.Pid {
			found = p.PPID == os.Getpid() && p.Live() && p.StartTime > 0
		}
	}
	if !found {
		t.Errorf("the child %d is not among the descendants %+v", cmd.Process.Pid, below)
	}
	if _, err := Read(-1); err == nil {
		t.Error("Read of no process: no error")
	}
}
