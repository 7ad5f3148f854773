// Package localcluster starts, stops and reports on a named local Kubernetes
// cluster of the project. It runs bin/nexios-cluster, the same command
// `make cluster` and `make cluster-down` run, so the cluster logic exists only
// once (tools/cluster/devcluster).
package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

// State is what Status reports.
type State string

// The states nexios-cluster reports.
const (
	Absent  State = "absent"
	Stopped State = "stopped"
	Running State = "running"
)

// Cluster is one named local cluster of a project checkout. Zero sizes take
// nexios-cluster's defaults (3 nodes of 4 CPU / 16Gi).
type Cluster struct {
	Toolchain toolchain.Toolchain
	// Name names the cluster; tests use their own so a developer's cluster
	// is never touched.
	Name  string
	Nodes int
	// RealNodes adds a real node whose containers run (0 or 1; needs root
	// and the images `make images` builds).
	RealNodes  int
	NodeCPU    string
	NodeMemory string
	// Log receives nexios-cluster's progress output; nil discards it.
	Log io.Writer
}

// Start creates or restarts the cluster and returns once its API answers and
// its nodes are Ready; a running cluster is left as it is.
func (c Cluster) Start(ctx context.Context) error {
	_, err := c.run(ctx, c.args("up"))
	return err
}

// Stop stops the cluster and removes all its state; an absent cluster is fine.
func (c Cluster) Stop(ctx context.Context) error {
	_, err := c.run(ctx, c.args("down"))
	return err
}

// Pause stops the cluster's processes and keeps its state, as a reboot
// would; Start brings it back with the same objects.
func (c Cluster) Pause(ctx context.Context) error {
	_, err := c.run(ctx, c.args("stop"))
	return err
}

// Workloads returns nexios-cluster's table of the cluster's workloads and
// whether each ran for real or simulated.
func (c Cluster) Workloads(ctx context.Context) (string, error) {
	// The table is the result, not progress: the caller prints it.
	c.Log = nil
	return c.run(ctx, c.args("workloads"))
}

// RealNodeSupport returns nil when this machine can run a real node, or the
// reasons it cannot.
func (c Cluster) RealNodeSupport(ctx context.Context) error {
	// The answer is the result, not progress.
	c.Log = nil
	out, err := c.run(ctx, c.args("real-node-support"))
	if err != nil {
		return err
	}
	if reason, found := strings.CutPrefix(strings.TrimSpace(out), "no: "); found {
		return errors.New(reason)
	}
	return nil
}

// Status reports whether the cluster exists and whether its API answers.
func (c Cluster) Status(ctx context.Context) (State, error) {
	out, err := c.run(ctx, c.args("status"))
	if err != nil {
		return "", err
	}
	return parseState(out)
}

// Kubeconfig returns the path of the cluster's kubeconfig, which exists while
// the cluster does.
func (c Cluster) Kubeconfig(ctx context.Context) (string, error) {
	out, err := c.run(ctx, c.args("kubeconfig"))
	if err != nil {
		return "", err
	}
	path := strings.TrimSpace(out)
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("cluster %q: nexios-cluster printed %q, want an absolute kubeconfig path", c.Name, path)
	}
	return path, nil
}

// args builds nexios-cluster's command line; sizes are passed only when set
// so its defaults stay the single source of them.
func (c Cluster) args(command string) []string {
	args := []string{
		command,
		"-name", c.Name,
		"-state-dir", filepath.Join(c.Toolchain.Root, ".cluster"),
		"-bin-dir", c.Toolchain.BinDir(),
	}
	if command != "up" {
		return args
	}
	if c.Nodes != 0 {
		args = append(args, "-nodes", strconv.Itoa(c.Nodes))
	}
	if c.RealNodes != 0 {
		args = append(args, "-real-nodes", strconv.Itoa(c.RealNodes))
	}
	if c.NodeCPU != "" {
		args = append(args, "-node-cpu", c.NodeCPU)
	}
	if c.NodeMemory != "" {
		args = append(args, "-node-memory", c.NodeMemory)
	}
	return args
}

// run runs nexios-cluster and returns its standard output; its progress and
// error lines go to Log and, on failure, into the error.
func (c Cluster) run(ctx context.Context, args []string) (string, error) {
	if err := c.Toolchain.Require(toolchain.ClusterTools...); err != nil {
		return "", fmt.Errorf("cluster %q: %w", c.Name, err)
	}
	path, err := c.Toolchain.Path(toolchain.NexiosCluster)
	if err != nil {
		return "", fmt.Errorf("cluster %q: %w", c.Name, err)
	}
	log := c.Log
	if log == nil {
		log = io.Discard
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout = io.MultiWriter(&stdout, log)
	cmd.Stderr = io.MultiWriter(&stderr, log)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cluster %q: nexios-cluster %s: %w: %s", c.Name, args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func parseState(out string) (State, error) {
	switch state := State(strings.TrimSpace(out)); state {
	case Absent, Stopped, Running:
		return state, nil
	default:
		return "", fmt.Errorf("nexios-cluster status printed %q, want one of absent, stopped, running", out)
	}
}
