package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// State is what Status finds.
type State string

// The states a cluster can be in.
const (
	// Absent: no state on disk.
	Absent State = "absent"
	// Stopped: state on disk but the API server does not answer, e.g. after
	// a reboot; Up starts it again with its etcd data intact.
	Stopped State = "stopped"
	// Running: the API server answers.
	Running State = "running"
)

// pollInterval is how often readiness is checked; the whole cluster usually
// comes up in a few seconds, so a short interval saves real time.
const pollInterval = 250 * time.Millisecond

// Status reports whether the cluster exists and whether its API answers.
func Status(ctx context.Context, o Options) (State, error) {
	if err := o.Validate(); err != nil {
		return "", err
	}
	if _, err := os.Stat(o.kwokClusterDir()); errors.Is(err, fs.ErrNotExist) {
		return Absent, nil
	} else if err != nil {
		return "", fmt.Errorf("cluster %q: %w", o.Name, err)
	}
	if _, err := os.Stat(o.Kubeconfig()); errors.Is(err, fs.ErrNotExist) {
		// kwokctl writes the kubeconfig last: a create that died before it
		// left a cluster nobody can reach.
		return Stopped, nil
	}
	client, err := o.client()
	if err != nil {
		return "", err
	}
	if apiReady(ctx, client) {
		return Running, nil
	}
	return Stopped, nil
}

// Up makes sure the cluster runs with its nodes Ready: it creates an absent
// cluster, starts a stopped one and leaves a running one alone.
func Up(ctx context.Context, o Options, log io.Writer) error {
	state, err := Status(ctx, o)
	if err != nil {
		return err
	}
	if state != Absent {
		// A cluster keeps the nodes it was created with: its API server was
		// configured for them.
		created := 0
		if o.hasRealNode() {
			created = 1
		}
		if o.RealNodes > created {
			fmt.Fprintf(log, "cluster %q was created with %d real nodes and keeps them; to change that, recreate it: make cluster-down cluster CLUSTER=%s\n",
				o.Name, created, o.Name)
		}
		o.RealNodes = created
	}
	if o.RealNodes > 0 {
		if err := o.realNodePreflight(ctx); err != nil {
			return err
		}
	}
	switch state {
	case Running:
		if o.RealNodes > 0 {
			// Restarts whatever of the real node died and imports images
			// built since; a node that is whole is left as it is.
			fmt.Fprintf(log, "cluster %q is already running; checking its real node\n", o.Name)
			o.warnIfOutdated(log)
			break
		}
		fmt.Fprintf(log, "cluster %q is already running; nothing to do\n", o.Name)
		o.warnIfOutdated(log)
		o.printUsage(log)
		return nil
	case Stopped:
		if _, err := os.Stat(o.Kubeconfig()); err != nil {
			// Only a create killed before kwokctl finished leaves no
			// kubeconfig (a failed one cleans up): there is nothing to keep.
			fmt.Fprintf(log, "cluster %q was left half-created; recreating it\n", o.Name)
			if err := Down(ctx, o, io.Discard); err != nil {
				return err
			}
			return Up(ctx, o, log)
		}
		fmt.Fprintf(log, "cluster %q is stopped; starting it\n", o.Name)
		o.warnIfOutdated(log)
		if err := o.kwokctl(ctx, "start", "cluster"); err != nil {
			return fmt.Errorf("start cluster %q (or remove it with `make cluster-down CLUSTER=%s`): %w", o.Name, o.Name, err)
		}
	case Absent:
		fmt.Fprintf(log, "creating cluster %q\n", o.Name)
		if err := o.create(ctx); err != nil {
			// Leave nothing half-made behind: the next Up starts clean.
			if downErr := Down(context.WithoutCancel(ctx), o, log); downErr != nil {
				return errors.Join(err, fmt.Errorf("clean up after failed create: %w", downErr))
			}
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	client, err := o.client()
	if err != nil {
		return err
	}
	if err := waitAPI(ctx, client); err != nil {
		return fmt.Errorf("cluster %q: %w", o.Name, err)
	}
	if err := ensureStorageClass(ctx, client, o.provisionerName()); err != nil {
		return fmt.Errorf("cluster %q: %w", o.Name, err)
	}
	if err := o.ensureNodes(ctx, client); err != nil {
		return fmt.Errorf("cluster %q: %w", o.Name, err)
	}
	if err := o.waitNodesReady(ctx, client); err != nil {
		return fmt.Errorf("cluster %q: %w", o.Name, err)
	}
	fmt.Fprintf(log, "cluster %q is ready: %d simulated nodes of %s CPU / %s memory over %s\n",
		o.Name, o.Nodes, o.NodeCPU, o.NodeMemory, strings.Join(o.Zones, ", "))
	if o.RealNodes > 0 {
		start := time.Now()
		kubeletStarted, err := o.startRealNode(ctx, client, log)
		if err != nil {
			return fmt.Errorf("cluster %q: %w", o.Name, err)
		}
		if err := o.waitRealNodeReady(ctx, client, kubeletStarted); err != nil {
			return fmt.Errorf("cluster %q: %w", o.Name, err)
		}
		fmt.Fprintf(log, "cluster %q: real node %s is ready (containerd, runc, kube-proxy, kube-router, CoreDNS) in %s\n",
			o.Name, o.realNodeName(), time.Since(start).Round(100*time.Millisecond))
	}
	o.printUsage(log)
	return nil
}

// Stop stops a cluster and keeps its state, as a reboot would: its processes
// end, the real node's containers die and its mounts, network namespace and
// cgroups go; Up starts it again with the same objects.
func Stop(ctx context.Context, o Options, log io.Writer) error {
	state, err := Status(ctx, o)
	if err != nil {
		return err
	}
	if state == Absent {
		fmt.Fprintf(log, "cluster %q does not exist; nothing to do\n", o.Name)
		return nil
	}
	if err := o.stopRealNode(ctx); err != nil {
		return fmt.Errorf("cluster %q: %w", o.Name, err)
	}
	if err := o.kwokctl(ctx, "stop", "cluster"); err != nil {
		return fmt.Errorf("stop cluster %q: %w", o.Name, err)
	}
	fmt.Fprintf(log, "cluster %q stopped; `make cluster CLUSTER=%s` starts it again\n", o.Name, o.Name)
	return nil
}

// Down stops the cluster and removes everything it left on disk.
func Down(ctx context.Context, o Options, log io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	// The real node first: its processes hold mounts inside the state
	// folder, and its containers must not outlive the cluster. Even without
	// a state folder, what a killed run left on the machine is removed.
	if err := o.stopRealNode(ctx); err != nil {
		return fmt.Errorf("cluster %q: %w", o.Name, err)
	}
	if _, err := os.Stat(o.Dir()); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(log, "cluster %q does not exist; nothing to do\n", o.Name)
		return nil
	}
	// A directory that cannot be removed must not keep the cluster alive:
	// its error is reported once the cluster is gone.
	volumesErr := o.removeVolumeDirs(ctx, log)
	if _, err := os.Stat(o.kwokClusterDir()); err == nil {
		// kwokctl stops the processes it started; removing the folder alone
		// would leave them running.
		if err := o.kwokctl(ctx, "delete", "cluster", "--kubeconfig", o.Kubeconfig()); err != nil {
			return fmt.Errorf("delete cluster %q: %w", o.Name, err)
		}
	}
	if err := os.RemoveAll(o.Dir()); err != nil {
		return fmt.Errorf("remove state of cluster %q: %w", o.Name, err)
	}
	fmt.Fprintf(log, "cluster %q deleted\n", o.Name)
	if volumesErr != nil {
		return fmt.Errorf("cluster %q: %w", o.Name, volumesErr)
	}
	return nil
}

func (o Options) create(ctx context.Context) error {
	if err := os.MkdirAll(o.Dir(), 0o755); err != nil {
		return fmt.Errorf("create state folder: %w", err)
	}
	if o.RealNodes > 0 {
		// Marks the cluster as one with a real node from its creation on.
		if err := os.MkdirAll(o.nodeDir(), 0o755); err != nil {
			return fmt.Errorf("create the real node's folder: %w", err)
		}
	}
	config, err := o.kwokctlConfigYAML()
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.kwokctlConfig(), config, 0o644); err != nil {
		return fmt.Errorf("write kwokctl configuration: %w", err)
	}
	// --kubeconfig keeps kwokctl away from ~/.kube/config, which it would
	// otherwise edit.
	if err := o.kwokctl(ctx, "--config", o.kwokctlConfig(), "create", "cluster", "--kubeconfig", o.Kubeconfig()); err != nil {
		return fmt.Errorf("create cluster %q: %w", o.Name, err)
	}
	return nil
}

func (o Options) client() (*kubernetes.Clientset, error) {
	config, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig())
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", o.Kubeconfig(), err)
	}
	// A single request must not outlive a poll; a stuck one is retried.
	config.Timeout = 5 * time.Second
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", o.Kubeconfig(), err)
	}
	return client, nil
}

func apiReady(ctx context.Context, client kubernetes.Interface) bool {
	_, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil
}

func waitAPI(ctx context.Context, client kubernetes.Interface) error {
	for !apiReady(ctx, client) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("API server not ready: %w", ctx.Err())
		case <-time.After(pollInterval):
		}
	}
	return nil
}

// ensureNodes creates the nodes that do not exist yet, so a restarted
// cluster keeps its nodes and the objects scheduled on them.
func (o Options) ensureNodes(ctx context.Context, client kubernetes.Interface) error {
	nodes, err := o.nodes()
	if err != nil {
		return err
	}
	for _, node := range nodes {
		_, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", node.Name, err)
		}
	}
	return nil
}

func (o Options) waitNodesReady(ctx context.Context, client kubernetes.Interface) error {
	want, err := o.nodes()
	if err != nil {
		return err
	}
	for {
		notReady, err := notReadyNodes(ctx, client, want)
		if err == nil && len(notReady) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("list nodes: %w", err)
			}
			return fmt.Errorf("nodes not Ready: %s: %w", strings.Join(notReady, ", "), ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// notReadyNodes names the wanted nodes that are missing or not Ready.
func notReadyNodes(ctx context.Context, client kubernetes.Interface, want []*corev1.Node) ([]string, error) {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	ready := map[string]bool{}
	for _, node := range list.Items {
		ready[node.Name] = nodeReady(&node)
	}
	var notReady []string
	for _, node := range want {
		if !ready[node.Name] {
			notReady = append(notReady, node.Name)
		}
	}
	return notReady, nil
}

func nodeReady(node *corev1.Node) bool { return nodeReadySince(node, time.Time{}) }

func (o Options) printUsage(log io.Writer) {
	fmt.Fprintf(log, `  kubeconfig: %s
  use it:     export KUBECONFIG=%s
  remove it:  make cluster-down CLUSTER=%s
`, o.Kubeconfig(), o.Kubeconfig(), o.Name)
}
