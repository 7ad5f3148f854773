//go:build !linux

package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// superviseCommand is the hidden first argument that makes deploy the supervisor of one CLI run; only
// Linux has the supervisor (see supervise_linux.go).
const superviseCommand = "supervise-pulumi"

// newPulumiCommand returns the SDK's own command: without PR_SET_CHILD_SUBREAPER there is no
// supervisor, and the CLI's plugins can outlive a deploy that is killed.
func newPulumiCommand(root string) (auto.PulumiCommand, error) {
	return auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root})
}

func supervise([]string) int {
	fmt.Fprintf(os.Stderr, "deploy %s: the supervisor runs on Linux only\n", superviseCommand)
	return exitInvalid
}

// processAlive cannot tell a dead run from a live one without /proc: a lock counts as held.
func processAlive(int) (running, pulumi bool) { return true, true }
