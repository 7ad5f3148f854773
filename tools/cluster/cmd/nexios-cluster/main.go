// Command nexios-cluster starts, stops and reports on a named local cluster
// (see package devcluster). `make cluster`, `make cluster-down` and the root
// module's internal/localcluster all call it, so the cluster logic exists
// once.
//
//	nexios-cluster up|stop|down|status|kubeconfig|workloads|real-node-support -state-dir DIR -bin-dir DIR [flags]
//
// status prints one word: running, stopped or absent. real-node-support
// prints "yes", or "no: " and the reasons, and always exits 0 when it could
// tell.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nexios-labs/nexios-k8s/tools/cluster/devcluster"
)

const usage = "usage: nexios-cluster up|stop|down|status|kubeconfig|workloads|real-node-support -state-dir DIR -bin-dir DIR [flags]"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "nexios-cluster:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	command, args := args[0], args[1:]
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	switch command {
	case "up":
		return devcluster.Up(ctx, opts, stdout)
	case "stop":
		return devcluster.Stop(ctx, opts, stdout)
	case "down":
		return devcluster.Down(ctx, opts, stdout)
	case "serve-volumes":
		// A daemon of the real node, started by up: not for people.
		return devcluster.ServeVolumes(ctx, opts, stdout)
	case "workloads":
		return devcluster.Workloads(ctx, opts, stdout)
	case "real-node-support":
		if err := devcluster.RealNodeSupport(opts.BinDir); err != nil {
			fmt.Fprintf(stdout, "no: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
			return nil
		}
		fmt.Fprintln(stdout, "yes")
		return nil
	case "status":
		state, err := devcluster.Status(ctx, opts)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, state)
		return nil
	case "kubeconfig":
		if err := opts.Validate(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, opts.Kubeconfig())
		return nil
	default:
		return fmt.Errorf("unknown command %q; %s", command, usage)
	}
}

func parseOptions(args []string, stderr io.Writer) (devcluster.Options, error) {
	opts := devcluster.Options{
		// Three zones so zone spreading and anti-affinity are exercised the
		// way a regional cloud cluster would exercise them.
		Region: "local",
		Zones:  []string{"zone-a", "zone-b", "zone-c"},
	}
	flags := flag.NewFlagSet("nexios-cluster", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&opts.Name, "name", "nexios", "cluster name")
	flags.StringVar(&opts.StateDir, "state-dir", "", "folder holding one state folder per cluster (required)")
	flags.StringVar(&opts.BinDir, "bin-dir", "", "folder holding kwokctl, kwok and the control plane binaries (required)")
	flags.IntVar(&opts.Nodes, "nodes", 3, "number of simulated nodes, spread over the zones")
	flags.IntVar(&opts.RealNodes, "real-nodes", 0, "real nodes running containers with containerd and runc: 0 or 1 (needs root)")
	// A mid-size cloud worker, so requests and limits that fit production
	// nodes fit here too.
	flags.StringVar(&opts.NodeCPU, "node-cpu", "4", "allocatable CPU per node")
	flags.StringVar(&opts.NodeMemory, "node-memory", "16Gi", "allocatable memory per node")
	// The kubelet's default --max-pods.
	flags.IntVar(&opts.NodePods, "node-pods", 110, "allocatable pods per node")
	flags.DurationVar(&opts.Timeout, "timeout", 2*time.Minute, "how long to wait for the API server and the nodes")
	if err := flags.Parse(args); err != nil {
		return devcluster.Options{}, err
	}
	if flags.NArg() > 0 {
		return devcluster.Options{}, fmt.Errorf("unexpected arguments %q; %s", flags.Args(), usage)
	}
	return opts, nil
}
