package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// inputError is a problem with what the caller gave: usage, configuration, tools, passphrase.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

func invalid(err error) error { return inputError{err} }

// changesError reports changes under --expect-no-changes.
type changesError struct{ count int }

func (e changesError) Error() string {
	return fmt.Sprintf("%d resource(s) would change; expected none", e.count)
}

func changesFound(n int) error { return changesError{n} }

// driftError reports what drift found.
type driftError struct{ count int }

func (e driftError) Error() string {
	return fmt.Sprintf("%d resource(s) drifted from the state; the next `deploy up` puts them back", e.count)
}

func driftFound(n int) error { return driftError{n} }

// hint recognises the failures people hit most and says what to do; the engine's own text follows.
type hint struct {
	match   []string
	message string
	code    int
}

// hints are checked in order against the engine's output.
var hints = []hint{
	{[]string{"the stack is currently locked", "Another update is currently in progress"},
		"stack %[1]s is locked by another run. Wait for it; if none is running (an interrupted run left the lock), `deploy recover %[1]s` removes a dead run's lock and repairs what it left (`deploy cancel %[1]s` removes a lock recover cannot check, e.g. one on a shared backend)", exitFailed},
	{[]string{"failed to load checkpoint"},
		"the state of stack %[1]s cannot be read; a run killed while writing it leaves it so: `deploy recover %[1]s` repairs it", exitFailed},
	{[]string{"incorrect passphrase", "passphrase must be set", "failed to decrypt"},
		"the passphrase does not open stack %[1]s's secrets: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the stack's passphrase", exitInvalid},
	{[]string{"cluster is unreachable", "connection refused", "no such host", "Unable to connect to the server", "failed to load kubeconfig", "invalid configuration: no configuration has been provided"},
		"the Kubernetes cluster of stack %[1]s cannot be reached: start the local one with `make cluster`, or point KUBECONFIG or nexios:target.kubeconfig at a running cluster", exitFailed},
	{[]string{"no resource plugin", "could not find plugin", "failed to load plugin"},
		"a provider plugin is missing: run `make tools` (it builds them into bin/, which this command puts on PATH)", exitInvalid},
}

// report prints err for people and returns the exit code.
func report(stderr io.Writer, opts options, err error) int {
	if err == nil {
		return exitOK
	}
	var changes changesError
	if errors.As(err, &changes) {
		fmt.Fprintln(stderr, "deploy:", err)
		return exitChanges
	}
	var policies policyError
	if errors.As(err, &policies) {
		fmt.Fprintln(stderr, "deploy:", err)
		return exitPolicy
	}
	var drift driftError
	if errors.As(err, &drift) {
		fmt.Fprintln(stderr, "deploy:", err)
		return exitDrift
	}
	var failedRelease verifyError
	if errors.As(err, &failedRelease) {
		fmt.Fprintln(stderr, "deploy:", err)
		return exitVerify
	}
	var input inputError
	if errors.As(err, &input) {
		fmt.Fprintln(stderr, "deploy:", err)
		return exitInvalid
	}
	text := err.Error()
	for _, h := range hints {
		for _, m := range h.match {
			if strings.Contains(text, m) {
				fmt.Fprintf(stderr, "deploy: "+h.message+"\n", opts.stack)
				fmt.Fprintf(stderr, "\ndetails:\n%s\n", indent(engineMessage(err)))
				return h.code
			}
		}
	}
	if auto.IsConcurrentUpdateError(err) {
		fmt.Fprintf(stderr, "deploy: stack %s is being updated by another run\n", opts.stack)
		return exitFailed
	}
	fmt.Fprintf(stderr, "deploy: %s\n", indent(engineMessage(err)))
	return exitFailed
}

// engineMessage keeps the Automation API's error readable: the CLI's stdout is already on screen, so only
// the command's error and its stderr are worth repeating.
func engineMessage(err error) string {
	text := err.Error()
	if i := strings.Index(text, "\nstdout: "); i >= 0 {
		head := text[:i]
		if j := strings.Index(text, "\nstderr: "); j >= 0 {
			return strings.TrimSpace(head + "\n" + text[j+1:])
		}
		return head
	}
	return text
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ")
}
