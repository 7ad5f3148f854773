package devcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The real node's network. The node (its kubelet, container runtime,
// kube-proxy, policy controller and every pod) lives in a network namespace
// of its own with no default route: a pod reaches its node, the other pods and
// the API server on the host end of one veth pair, and nothing else, so no
// packet a workload sends can leave the machine. Deleting the namespace
// removes its interfaces, routes and every iptables and ipset rule the node
// made. The addresses are fixed, so one machine runs one real node at a time
// (realNodePreflight refuses a second).
const (
	// linkCIDR is the veth pair's subnet; the kwok nodes of a real-node
	// cluster get unanswered addresses in it too, so scraping a simulated
	// kubelet fails on this machine instead of reaching another host.
	linkCIDR   = "10.253.0.0/24"
	linkPrefix = "/24"
	// hostLinkIP is the host's end: the API server's advertised address, so
	// the `kubernetes` Service leads pods to it.
	hostLinkIP = "10.253.0.1"
	// nodeIP is the node's InternalIP, where its kubelet listens.
	nodeIP = "10.253.0.2"
	// podCIDR holds the real node's pods; the host routes it to the node so
	// the API server reaches aggregated API servers and webhooks in pods.
	podCIDR   = "10.244.0.0/24"
	podBridge = "cni0"
	// serviceCIDR replaces the API server's default 10.0.0.0/24, which
	// overlaps kwok's simulated pod addresses.
	serviceCIDR         = "10.96.0.0/16"
	kubernetesServiceIP = "10.96.0.1"
	clusterDNSIP        = "10.96.0.10"
	clusterDomain       = "cluster.local"
)

// kwokNodeIP is the InternalIP of simulated node i in a real-node cluster.
func kwokNodeIP(i int) string { return fmt.Sprintf("10.253.0.%d", 10+i) }

// netnsName names the real node's network namespace (under /run/netns).
func (o Options) netnsName() string { return "nexios-" + o.Name }

func (o Options) netnsPath() string { return filepath.Join("/run/netns", o.netnsName()) }

// hostVeth names the host end of the node's veth pair: interface names are
// limited to 15 bytes, so it carries a hash of the cluster name.
func (o Options) hostVeth() string {
	sum := sha256.Sum256([]byte(o.Name))
	return "nxh" + hex.EncodeToString(sum[:])[:8]
}

// nodeVeth is the node's end, inside its namespace.
const nodeVeth = "eth0"

// run runs one host command, returning its output in the error.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// inNode runs a command inside the node's network namespace. nsenter switches
// the network namespace only; `ip netns exec` would also remount /sys and hide
// the cgroup hierarchies.
func (o Options) inNode(ctx context.Context, name string, args ...string) error {
	return run(ctx, "nsenter", append([]string{"--net=" + o.netnsPath(), "--", name}, args...)...)
}

// createNodeNetwork makes the namespace, the veth pair and the routes; it is
// idempotent so a restart after a reboot (which empties /run) recreates them.
func (o Options) createNodeNetwork(ctx context.Context) error {
	if _, err := os.Stat(o.netnsPath()); errors.Is(err, fs.ErrNotExist) {
		if err := run(ctx, "ip", "netns", "add", o.netnsName()); err != nil {
			return fmt.Errorf("create network namespace: %w", err)
		}
	}
	if err := run(ctx, "ip", "link", "show", o.hostVeth()); err != nil {
		if err := run(ctx, "ip", "link", "add", o.hostVeth(), "type", "veth", "peer", "name", nodeVeth, "netns", o.netnsName()); err != nil {
			return fmt.Errorf("create the node's veth pair: %w", err)
		}
	}
	steps := [][]string{
		{"ip", "addr", "replace", hostLinkIP + linkPrefix, "dev", o.hostVeth()},
		{"ip", "link", "set", o.hostVeth(), "up"},
		{"ip", "route", "replace", podCIDR, "via", nodeIP, "dev", o.hostVeth()},
	}
	for _, step := range steps {
		if err := run(ctx, step[0], step[1:]...); err != nil {
			return fmt.Errorf("host end of the node's network: %w", err)
		}
	}
	inside := [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "addr", "replace", nodeIP + linkPrefix, "dev", nodeVeth},
		{"ip", "link", "set", nodeVeth, "up"},
		// Pods' traffic is routed through the node; bridged pod-to-pod
		// traffic must pass iptables for Services and NetworkPolicies.
		{"sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
		{"sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1"},
	}
	for _, step := range inside {
		if err := o.inNode(ctx, step[0], step[1:]...); err != nil {
			return fmt.Errorf("node's network namespace: %w", err)
		}
	}
	return nil
}

// deleteNodeNetwork removes the namespace, which takes the veth pair, the
// host route through it and every rule inside with it.
func (o Options) deleteNodeNetwork(ctx context.Context) error {
	if _, err := os.Stat(o.netnsPath()); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := run(ctx, "ip", "netns", "delete", o.netnsName()); err != nil {
		return fmt.Errorf("delete network namespace: %w", err)
	}
	return nil
}
