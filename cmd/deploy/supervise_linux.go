//go:build linux

package main

// Why the Pulumi CLI runs under a supervisor.
//
// The Automation API runs the pulumi CLI as deploy's child, and the CLI starts each provider plugin as
// its own child, in a process group of its own. When deploy dies without a chance to clean up (SIGKILL,
// the OOM killer, a CI runner giving up on the job), Linux stops none of them: the CLI loses its
// program but the plugins keep running, and the Kubernetes provider keeps creating and awaiting
// objects for an engine that is gone. Pdeathsig alone cannot help: it reaches only a direct child, and
// it fires when the *thread* that forked the child exits, which in a Go program is not under the
// program's control.
//
// So deploy starts the CLI itself only for the commands that start no plugin (unsupervisedCommands:
// reading and writing the stack's state and configuration). Every other CLI call re-executes deploy as
// `deploy supervise-pulumi CLI ARGS...` (the supervisor), which:
//   - makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so whatever the CLI leaves behind,
//     plugins included, is re-parented to the supervisor instead of to init, and can be found by
//     walking the supervisor's descendants;
//   - holds the read end of a pipe whose write end only deploy holds: the kernel closes it when deploy
//     dies, however it dies, and the supervisor then kills the CLI and every process below itself;
//   - kills whatever the CLI left running when the CLI exits, then exits with the CLI's status;
//   - passes a SIGINT from deploy to the CLI (Pulumi's graceful cancel), and takes a SIGTERM from deploy
//     as "stop now": it kills everything below it.
//
// The supervisor runs in a process group of its own, so a signal sent to deploy's group (a terminal's
// Ctrl-C, a CI runner killing the job's group) reaches deploy alone: deploy decides what the CLI gets,
// Pulumi sees one interrupt rather than two (a second one makes it abort at once), and a kill of the
// job's group cannot take the supervisor down with deploy. The CLI gets Pdeathsig as a second line for
// when the supervisor itself is killed; the supervisor forks it from its main goroutine, locked to its
// thread, so that thread lives as long as the supervisor.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/nexios-labs/nexios-k8s/internal/proctree"
)

// superviseCommand is the hidden first argument that makes deploy the supervisor of one CLI run.
const superviseCommand = "supervise-pulumi"

// lifelineFD is the supervisor's descriptor of the pipe whose write end deploy holds (ExtraFiles[0]).
const lifelineFD = 3

// cancelGrace is how long a cancelled run gets to stop gracefully (Pulumi waits for the operations in
// flight) before the supervisor kills the CLI and its plugins.
const cancelGrace = 2 * time.Minute

// unknownExitCode is what the Automation API reports when the CLI gave no exit code.
const unknownExitCode = -2

// supervisedPulumi is the Automation API's PulumiCommand with every run that starts plugins under a
// supervisor.
type supervisedPulumi struct {
	version   semver.Version
	cli, self string
}

// Version is the CLI's version, checked by pulumiVersion.
func (p supervisedPulumi) Version() semver.Version { return p.version }

var _ auto.PulumiCommand = supervisedPulumi{}

// newPulumiCommand returns the command that runs the CLI in root's bin/ under a supervisor.
func newPulumiCommand(root string) (auto.PulumiCommand, error) {
	version, err := pulumiVersion(root)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating the deploy executable, which supervises the Pulumi CLI: %w", err)
	}
	return supervisedPulumi{version: version, cli: filepath.Join(root, "bin", "pulumi"), self: self}, nil
}

// Run runs the CLI as the SDK's own PulumiCommand does (non-interactive, PULUMI_AUTOMATION_API set,
// the caller's environment on top of the process's), under a supervisor unless the command starts no
// plugin.
func (p supervisedPulumi) Run(ctx context.Context, workdir string, stdin io.Reader, additionalOutput []io.Writer,
	additionalErrorOutput []io.Writer, additionalEnv []string, args ...string,
) (string, string, int, error) {
	if err := ctx.Err(); err != nil {
		return "", "", unknownExitCode, err
	}
	if !slices.Contains(args, "--non-interactive") {
		args = append([]string{"--non-interactive"}, args...)
	}
	supervised := !startsNoPlugin(args)
	name, cmdArgs := p.cli, args
	if supervised {
		name, cmdArgs = p.self, append([]string{superviseCommand, p.cli}, args...)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, cmdArgs...)
	cmd.Dir = workdir
	cmd.Env = append(append(os.Environ(), additionalEnv...), "PULUMI_AUTOMATION_API=true")
	cmd.Stdin = stdin
	cmd.Stdout = io.MultiWriter(append(additionalOutput, &stdout)...)
	cmd.Stderr = io.MultiWriter(append(additionalErrorOutput, &stderr)...)
	// In a process group of its own, as the supervisor is, so a signal to deploy's group reaches
	// deploy alone (see the top of this file).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Once the CLI (or its supervisor) has exited, output still held open by a process that could not
	// be killed (one stuck in the kernel) must not hold deploy up.
	cmd.WaitDelay = 10 * time.Second

	var err error
	if supervised {
		err = runSupervised(ctx, cmd)
	} else {
		err = runUnsupervised(ctx, cmd)
	}
	code := unknownExitCode
	var exit *exec.ExitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &exit):
		code = exit.ExitCode()
	}
	return stdout.String(), stderr.String(), code, err
}

// unsupervisedCommands are the CLI commands deploy and the Automation API run that read or write the
// stack's state or configuration and start no plugin. The supervisor is there to stop plugins that
// outlive a dead deploy; without one, a CLI left behind finishes its read or write and exits, and the
// re-execution of deploy it saves is a tenth of a second on each of the several such runs of every
// command (opening the stack; the Automation API's outputs and history after an update). A command
// not listed here runs supervised.
var unsupervisedCommands = map[string][]string{
	"stack":   {"select", "output", "history", "export"},
	"config":  {"", "get", "set", "set-all", "rm", "rm-all"},
	"version": {""},
	"whoami":  {""},
}

// startsNoPlugin reports whether args (the CLI's, global flags first) name a command of
// unsupervisedCommands.
func startsNoPlugin(args []string) bool {
	var words []string // the command and its subcommand, if any
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			if len(words) == 0 {
				continue // a global flag, before the command
			}
			break
		}
		if words = append(words, a); len(words) == 2 {
			break
		}
	}
	return subcommandListed(words)
}

func subcommandListed(words []string) bool {
	if len(words) == 0 {
		return false
	}
	subcommands, ok := unsupervisedCommands[words[0]]
	if !ok {
		return false
	}
	sub := ""
	if len(words) > 1 {
		sub = words[1]
	}
	return slices.Contains(subcommands, sub)
}

// runUnsupervised runs a command that starts no plugin as deploy's own child; a cancel kills it, as
// there is nothing for it to finish.
func runUnsupervised(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the Pulumi CLI: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stop()
	return cmd.Wait()
}

// runSupervised runs cmd, `deploy supervise-pulumi CLI ARGS...`, with the lifeline on descriptor 3,
// and passes a cancel on as an interrupt, then after cancelGrace as a stop.
func runSupervised(ctx context.Context, cmd *exec.Cmd) error {
	lifeline, keep, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("creating the supervisor's pipe: %w", err)
	}
	defer keep.Close()
	cmd.ExtraFiles = []*os.File{lifeline}
	err = cmd.Start()
	lifeline.Close()
	if err != nil {
		return fmt.Errorf("starting the Pulumi CLI's supervisor: %w", err)
	}

	finished := make(chan struct{})
	go func() {
		select {
		case <-finished:
			return
		case <-ctx.Done():
		}
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-finished:
		case <-time.After(cancelGrace):
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
	}()
	err = cmd.Wait()
	close(finished)
	return err
}

// supervise is the supervisor's whole life: args are the CLI's path and arguments. It returns the CLI's
// exit code, or exitFailed when it had to kill the CLI.
func supervise(args []string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "deploy %s: "+format+"\n", append([]any{superviseCommand}, a...)...)
		return exitFailed
	}
	if len(args) == 0 || !filepath.IsAbs(args[0]) {
		return fail("want the Pulumi CLI's absolute path and its arguments; this is run by deploy itself")
	}
	// The CLI's Pdeathsig fires when the thread that forked it exits: fork it from the main goroutine,
	// locked to its thread, which then lives as long as the supervisor.
	runtime.LockOSThread()
	if err := setChildSubreaper(); err != nil {
		return fail("becoming a child subreaper: %v", err)
	}
	lifeline := os.NewFile(lifelineFD, "deploy-lifeline")
	if lifeline == nil {
		return fail("no pipe from deploy on descriptor %d", lifelineFD)
	}
	syscall.CloseOnExec(lifelineFD)
	deployGone := make(chan struct{})
	go func() {
		// Nothing is ever written: Read returns when deploy's end closes, at its exit or death.
		_, _ = io.Copy(io.Discard, lifeline)
		close(deployGone)
	}()
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)

	cli, err := os.StartProcess(args[0], args, &os.ProcAttr{
		Env:   os.Environ(),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return fail("starting the Pulumi CLI: %v", err)
	}
	exited := make(chan syscall.WaitStatus, 1)
	go reapChildren(cli.Pid, exited)
	for {
		select {
		case status := <-exited:
			// The CLI is reaped, so everything it left is now the supervisor's child.
			killDescendants()
			if status.Signaled() {
				return 128 + int(status.Signal())
			}
			return status.ExitStatus()
		case sig := <-signals:
			if sig == os.Interrupt {
				_ = cli.Signal(os.Interrupt)
				continue
			}
			killAll(cli, exited)
			return fail("stopped: the Pulumi CLI and its plugins were killed after a cancel that did not finish in time")
		case <-deployGone:
			// Nobody reads the supervisor's output any more: it leaves without a word.
			killAll(cli, exited)
			return exitFailed
		}
	}
}

// setChildSubreaper makes orphaned descendants re-parent to this process rather than to init.
func setChildSubreaper() error {
	const prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER, <linux/prctl.h>
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return errno
	}
	return nil
}

// reapChildren waits for every child of the supervisor, the CLI's orphans included once they are
// re-parented, and reports the CLI's own status. It runs until the supervisor exits.
func reapChildren(cli int, exited chan<- syscall.WaitStatus) {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, 0, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
		case err != nil:
			// No child at the moment (ECHILD): orphans may still be re-parented here.
			time.Sleep(50 * time.Millisecond)
		case pid == cli && (status.Exited() || status.Signaled()):
			exited <- status
		}
	}
}

// killAll kills the CLI, waits until it is reaped (its death re-parents its plugins to the supervisor,
// and a reaped CLI cannot linger as a zombie whose pid, in the stack's lock, would look like a live
// run on a machine whose init does not reap), then kills everything else below the supervisor.
func killAll(cli *os.Process, exited <-chan syscall.WaitStatus) {
	_ = cli.Kill()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
	}
	killDescendants()
}

// processAlive reports whether pid runs (a zombie has exited), and whether it is a Pulumi CLI.
func processAlive(pid int) (running, pulumi bool) {
	p, err := proctree.Read(pid)
	if err != nil || !p.Live() {
		return false, false
	}
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return true, err == nil && strings.TrimSpace(string(comm)) == "pulumi"
}

// killDescendants kills every live process below the supervisor until two reads of the process table
// in a row find none: one read can miss a process being re-parented while it runs. A process in an
// uninterruptible sleep cannot be hurried, so it gives up after a bound rather than hang deploy.
func killDescendants() {
	deadline := time.Now().Add(30 * time.Second)
	for quiet := 0; quiet < 2 && time.Now().Before(deadline); {
		below, err := proctree.Descendants(os.Getpid())
		if err != nil {
			return
		}
		if len(below) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		for _, p := range below {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
