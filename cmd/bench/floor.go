package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// floorRun times the Pulumi engine itself, with the same CLI and Kubernetes provider, on a stack of
// one ConfigMap and its explicit provider (as the program has one): an up from empty, and a no-change
// preview with a refresh, which is what a no-change `deploy up` runs. It is the share of deploy's
// figures that nothing in this project can take away: the CLI's and the plugins' start-up, the
// provider's discovery of the API server's schema, the engine's own work. It runs on the kubectl
// cluster after kubectl's timings, in a namespace of its own, with a state of its own.
func (b *bench) floorRun(ctx context.Context, kubeconfig string, s samples) error {
	state, err := os.MkdirTemp(b.scratch.Root, "floor-state-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: b.scratch.Root})
	if err != nil {
		return fmt.Errorf("the Pulumi CLI: %w", err)
	}
	env := b.tools.PulumiEnv()
	env["PULUMI_BACKEND_URL"] = "file://" + state
	env["PULUMI_CONFIG_PASSPHRASE"] = benchPassphrase
	program := func(ctx *pulumi.Context) error {
		provider, err := kubernetes.NewProvider(ctx, "kubernetes", &kubernetes.ProviderArgs{Kubeconfig: pulumi.String(kubeconfig)})
		if err != nil {
			return err
		}
		_, err = corev1.NewConfigMap(ctx, "floor", &corev1.ConfigMapArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("nexios-bench-floor"), Namespace: pulumi.String("default")},
			Data:     pulumi.StringMap{"what": pulumi.String("the engine's floor")},
		}, pulumi.Provider(provider))
		return err
	}
	stack, err := auto.UpsertStackInlineSource(ctx, "floor", "nexios-bench-floor", program, auto.Pulumi(cli), auto.EnvVars(env))
	if err != nil {
		return fmt.Errorf("opening the floor's stack: %w", err)
	}
	defer os.RemoveAll(stack.Workspace().WorkDir())
	start := time.Now()
	if _, err := stack.Up(ctx); err != nil {
		return fmt.Errorf("up of the floor's stack: %w", err)
	}
	s[floorUp] = append(s[floorUp], time.Since(start))
	start = time.Now()
	res, err := stack.Preview(ctx, optpreview.Refresh())
	if err != nil {
		return fmt.Errorf("preview of the floor's stack: %w", err)
	}
	took := time.Since(start)
	if changed := changes(res.ChangeSummary); changed > 0 {
		return fmt.Errorf("the floor's preview right after its up plans %d change(s), so it is no no-change baseline", changed)
	}
	s[floorPreview] = append(s[floorPreview], took)
	return nil
}

// changes counts the steps of a preview's summary that change something.
func changes(summary map[apitype.OpType]int) int {
	n := 0
	for op, count := range summary {
		if op != apitype.OpSame {
			n += count
		}
	}
	return n
}
