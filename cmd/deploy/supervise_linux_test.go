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

// TestOnlyCommandsThatStartNoPluginRunUnsupervised runs each command as the Automation API and deploy
// issue it and reads who started the CLI: deploy itself for the state and configuration commands, the
// supervisor for anything that can start a plugin or that unsupervisedCommands does not name.
func TestOnlyCommandsThatStartNoPluginRunUnsupervised(t *testing.T) {
	dir := t.TempDir()
	cli := filepath.Join(dir, "pulumi")
	if err := os.WriteFile(cli, []byte("#!/bin/sh\necho $PPID\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args       string
		supervised bool
	}{
		{"stack select --stack dev", false},
		{"config --show-secrets --json --stack dev", false},
		{"config set nexios:app.replicas 2 --stack dev", false},
		{"config rm nexios:app.replicas --stack dev", false},
		{"stack export --stack dev --show-secrets", false},
		{"stack output --json --show-secrets --stack dev", false},
		{"stack history --json --page-size 1 --page 1 --stack dev", false},
		{"version", false},
		{"up --yes --skip-preview --refresh --client=127.0.0.1:1 --exec-kind=auto.inline", true},
		{"preview --refresh --stack dev", true},
		{"refresh --yes --skip-preview --stack dev", true},
		{"destroy --yes --skip-preview --stack dev", true},
		{"import --yes --stack dev", true},
		{"stack init dev --secrets-provider passphrase", true},
		{"stack import --file state.json --stack dev", true},
		{"config env init --stack dev", true},
		{"plugin install resource kubernetes 4.25.0", true},
		{"stack", true},
		{"about", true},
	} {
		t.Run(tc.args, func(t *testing.T) {
			stdout, stderr, code, err := supervisedPulumi{cli: cli, self: self}.Run(context.Background(), dir, nil, nil, nil, nil, strings.Fields(tc.args)...)
			if err != nil || code != 0 {
				t.Fatalf("run: code %d, %v, stderr %q", code, err, stderr)
			}
			parent, err := strconv.Atoi(strings.TrimSpace(stdout))
			if err != nil {
				t.Fatalf("the CLI printed %q, want its parent's pid", stdout)
			}
			if supervised := parent != os.Getpid(); supervised != tc.supervised {
				t.Errorf("supervised: %v, want %v (the CLI's parent is %d, deploy is %d)", supervised, tc.supervised, parent, os.Getpid())
			}
		})
	}
}
