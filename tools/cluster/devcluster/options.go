// Package devcluster starts, stops and reports on a named local Kubernetes
// cluster run by kwokctl's binary runtime: real kube-apiserver, etcd,
// kube-controller-manager and kube-scheduler processes, with nodes and pods
// simulated by kwok-controller. It is the one implementation behind
// `make cluster`, `make cluster-down` and the root module's
// internal/localcluster package.
package devcluster

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// maxNodes keeps every node's address inside one /24 test network; a local
// simulated cluster has no use for more.
const maxNodes = 254

// Options describe one named cluster and where its pieces live.
type Options struct {
	// Name is the cluster's name; it names its state folder and kube context.
	Name string
	// StateDir holds one folder per cluster: kwokctl's work dir and the
	// kubeconfig. Inside the project so nothing leaks to ~/.kwok or ~/.kube.
	StateDir string
	// BinDir holds kwokctl, kwok and the control plane binaries `make tools`
	// builds; nothing is downloaded at cluster start.
	BinDir string
	// Nodes is how many simulated nodes to create, spread over Zones.
	Nodes int
	// RealNodes is how many real nodes (a kubelet with containerd and runc
	// running the containers for real) to add beside the simulated ones: 0
	// or 1, since a real node's addresses are fixed (realnet.go).
	RealNodes int
	// NodeCPU, NodeMemory and NodePods are each node's allocatable resources.
	NodeCPU    string
	NodeMemory string
	NodePods   int
	// Region and Zones label the nodes the way a cloud provider would, so
	// topology spread constraints and zone anti-affinity have something to
	// spread over.
	Region string
	Zones  []string
	// Timeout bounds waiting for the API server and the nodes.
	Timeout time.Duration
}

// Validate reports every problem with the options at once, each naming its
// flag, so one run shows everything to fix.
func (o Options) Validate() error {
	var errs []error
	for _, msg := range validation.IsDNS1123Label(o.Name) {
		errs = append(errs, fmt.Errorf("name %q: %s", o.Name, msg))
	}
	if o.StateDir == "" {
		errs = append(errs, errors.New("state-dir: required"))
	}
	if o.BinDir == "" {
		errs = append(errs, errors.New("bin-dir: required"))
	}
	if o.Nodes < 1 || o.Nodes > maxNodes {
		errs = append(errs, fmt.Errorf("nodes: %d, want 1 to %d", o.Nodes, maxNodes))
	}
	if o.RealNodes < 0 || o.RealNodes > 1 {
		errs = append(errs, fmt.Errorf("real-nodes: %d, want 0 or 1 (one machine runs one real node)", o.RealNodes))
	}
	if q, err := resource.ParseQuantity(o.NodeCPU); err != nil {
		errs = append(errs, fmt.Errorf("node-cpu %q: %w", o.NodeCPU, err))
	} else if q.Sign() <= 0 {
		errs = append(errs, fmt.Errorf("node-cpu %q: must be positive", o.NodeCPU))
	}
	if q, err := resource.ParseQuantity(o.NodeMemory); err != nil {
		errs = append(errs, fmt.Errorf("node-memory %q: %w", o.NodeMemory, err))
	} else if q.Sign() <= 0 {
		errs = append(errs, fmt.Errorf("node-memory %q: must be positive", o.NodeMemory))
	}
	if o.NodePods < 1 {
		errs = append(errs, fmt.Errorf("node-pods: %d, want at least 1", o.NodePods))
	}
	if o.Region == "" {
		errs = append(errs, errors.New("region: required"))
	}
	if len(o.Zones) == 0 {
		errs = append(errs, errors.New("zones: at least one required"))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: %s, must be positive", o.Timeout))
	}
	return errors.Join(errs...)
}

// Dir is the cluster's own state folder; removing it removes everything the
// cluster left on disk.
func (o Options) Dir() string { return filepath.Join(o.StateDir, o.Name) }

// Kubeconfig is where the cluster's kubeconfig is written.
func (o Options) Kubeconfig() string { return filepath.Join(o.Dir(), "kubeconfig") }

// kwokWorkDir is kwokctl's KWOK_WORKDIR for this cluster: one per cluster, so
// deleting a cluster cannot touch another one's files.
func (o Options) kwokWorkDir() string { return filepath.Join(o.Dir(), "kwok") }

// kwokctlConfig is the KwokctlConfiguration file the cluster is created from.
func (o Options) kwokctlConfig() string { return filepath.Join(o.Dir(), "kwokctl.yaml") }

// kwokClusterDir is where kwokctl keeps the cluster's certificates, etcd data
// and process state; it exists while the cluster exists, running or not.
func (o Options) kwokClusterDir() string {
	return filepath.Join(o.kwokWorkDir(), "clusters", o.Name)
}
