//go:build linux

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nexios-labs/nexios-k8s/internal/proctree"
)

// fakeDeployEnv makes the test binary play deploy: it runs one supervised fake CLI and waits, so a test
// can kill it the way a CI runner would.
const fakeDeployEnv = "NEXIOS_TEST_FAKE_DEPLOY_CLI"

// TestMain lets the test binary stand in for deploy's executable, which the supervisor re-executes.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == superviseCommand {
		os.Exit(supervise(os.Args[2:]))
	}
	if cli := os.Getenv(fakeDeployEnv); cli != "" {
		self, err := os.Executable()
		if err != nil {
			os.Exit(exitFailed)
		}
		_, _, code, _ := supervisedPulumi{cli: cli, self: self}.Run(context.Background(), ".", nil, nil, nil, nil, "up")
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// fakeCLI writes a shell script standing in for the Pulumi CLI: it starts a "plugin" in a session of
// its own (the real CLI gives each plugin its own process group), records both pids in dir, then runs
// body.
func fakeCLI(t *testing.T, dir, body string) string {
	t.Helper()
	for _, tool := range []string{"sh", "setsid", "sleep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the fake CLI needs %s: %v", tool, err)
		}
	}
	script := filepath.Join(dir, "pulumi")
	text := "#!/bin/sh\n" +
		"setsid sleep 300 </dev/null >/dev/null 2>&1 &\n" +
		"echo $! > " + filepath.Join(dir, "plugin.pid") + "\n" +
		"echo $$ > " + filepath.Join(dir, "cli.pid") + "\n" +
		body + "\n"
	if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// readPID waits for a pid file the fake CLI writes.
func readPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		raw, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && perr == nil {
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

// requireGone waits until pid no longer runs (gone, or a zombie awaiting its reaper).
func requireGone(t *testing.T, what string, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p, err := proctree.Read(pid); err != nil || !p.Live() {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("%s (pid %d) still runs 10s later", what, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSupervisedRunReportsTheCLIAndKillsWhatItLeaves(t *testing.T) {
	dir := t.TempDir()
	cli := fakeCLI(t, dir, `echo "args: $*"; echo "env: $NEXIOS_TEST_VALUE"; echo oops >&2; exit 7`)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var streamed strings.Builder
	stdout, stderr, code, err := supervisedPulumi{cli: cli, self: self}.Run(context.Background(), dir, nil,
		[]io.Writer{&streamed}, nil, []string{"NEXIOS_TEST_VALUE=passed"}, "stack", "ls")
	var exit *exec.ExitError
	if code != 7 || !errors.As(err, &exit) {
		t.Errorf("code %d, err %v; want the CLI's exit 7 as an exit error", code, err)
	}
	if !strings.Contains(stdout, "args: --non-interactive stack ls") || !strings.Contains(stdout, "env: passed") {
		t.Errorf("stdout %q: want the arguments after --non-interactive and the caller's environment", stdout)
	}
	if streamed.String() != stdout || strings.TrimSpace(stderr) != "oops" {
		t.Errorf("streamed %q, stderr %q", streamed.String(), stderr)
	}
	// The plugin outlived the CLI in a session of its own: the supervisor killed it.
	requireGone(t, "the fake plugin", readPID(t, filepath.Join(dir, "plugin.pid")))
}

func TestKilledDeployTakesTheCLIAndItsPluginsDown(t *testing.T) {
	dir := t.TempDir()
	cli := fakeCLI(t, dir, "sleep 300")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	deploy := exec.Command(self)
	deploy.Env = append(os.Environ(), fakeDeployEnv+"="+cli)
	if err := deploy.Start(); err != nil {
		t.Fatal(err)
	}
	cliPID, pluginPID := readPID(t, filepath.Join(dir, "cli.pid")), readPID(t, filepath.Join(dir, "plugin.pid"))
	if err := deploy.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = deploy.Wait()
	requireGone(t, "the fake CLI", cliPID)
	requireGone(t, "the fake plugin", pluginPID)
}

func TestCancelReachesTheCLIAsOneInterrupt(t *testing.T) {
	dir := t.TempDir()
	// The trap counts interrupts: the supervisor must pass exactly one on.
	cli := fakeCLI(t, dir, `n=0; trap 'n=$((n+1))' INT; touch `+filepath.Join(dir, "ready")+`
while [ $n -eq 0 ]; do sleep 0.05; done; sleep 0.5; echo "interrupts: $n"; exit 130`)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	start := time.Now()
	stdout, _, code, _ := supervisedPulumi{cli: cli, self: self}.Run(ctx, dir, nil, nil, nil, nil, "up")
	if code != 130 || !strings.Contains(stdout, "interrupts: 1") {
		t.Errorf("code %d, stdout %q: want the CLI to see one interrupt and exit on its own", code, stdout)
	}
	if elapsed := time.Since(start); elapsed > cancelGrace/2 {
		t.Errorf("the cancelled run took %s", elapsed)
	}
	requireGone(t, "the fake plugin", readPID(t, filepath.Join(dir, "plugin.pid")))
}
