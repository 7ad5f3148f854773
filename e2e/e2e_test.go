// Package e2e proves the toolchain end to end: the real Pulumi engine, the
// Kubernetes provider and the random provider `make tools` built, against a
// local cluster `make cluster` would start.
package e2e

import (
	"bytes"
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/internal/localcluster"
	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

const (
	// clusterName is the test's own cluster, never a developer's `nexios`.
	clusterName = "nexios-e2e"
	replicas    = 2
)

func TestDeployToLocalCluster(t *testing.T) {
	ctx, tc, kubeconfig := freshCluster(t, clusterName)

	stack := newStack(ctx, t, tc, kubeconfig)
	progress := optup.ProgressStreams(testLog{t})

	res, err := stack.Up(ctx, progress)
	if err != nil {
		t.Fatalf("first up: %v", err)
	}
	// The provider's await only returns once the rollout is complete; the
	// output shows it is the cluster's own status that says so.
	if got := res.Outputs["readyReplicas"].Value; got != float64(replicas) {
		t.Errorf("readyReplicas output = %v, want %d", got, replicas)
	}
	if got, _ := res.Outputs["clusterIP"].Value.(string); got == "" {
		t.Errorf("clusterIP output = %v, want the Service's address", res.Outputs["clusterIP"].Value)
	}
	if !res.Outputs["passwordLength"].Secret {
		t.Errorf("the password's output lost its secretness: %+v", res.Outputs["passwordLength"])
	}

	res, err = stack.Up(ctx, progress)
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	requireOnlySame(t, "second up", res.Summary.ResourceChanges)

	refresh, err := stack.Refresh(ctx, optrefresh.ProgressStreams(testLog{t}))
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	requireOnlySame(t, "refresh", refresh.Summary.ResourceChanges)

	if _, err := stack.Destroy(ctx, optdestroy.ProgressStreams(testLog{t})); err != nil {
		t.Fatalf("destroy: %v", err)
	}
}

// program deploys a Deployment whose pods read a generated password from a
// Secret, and a Service in front of them, through an explicit provider bound
// to the test cluster's kubeconfig.
func program(kubeconfig string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		provider, err := kubernetes.NewProvider(ctx, "e2e", &kubernetes.ProviderArgs{
			Kubeconfig: pulumi.String(kubeconfig),
		})
		if err != nil {
			return err
		}
		k8s := pulumi.Provider(provider)

		password, err := random.NewRandomPassword(ctx, "app-password", &random.RandomPasswordArgs{
			Length:  pulumi.Int(24),
			Special: pulumi.Bool(false),
		})
		if err != nil {
			return err
		}
		ns, err := corev1.NewNamespace(ctx, "e2e", &corev1.NamespaceArgs{}, k8s)
		if err != nil {
			return err
		}
		namespace := ns.Metadata.Name().Elem()
		secret, err := corev1.NewSecret(ctx, "app", &corev1.SecretArgs{
			Metadata:   &metav1.ObjectMetaArgs{Namespace: namespace},
			StringData: pulumi.StringMap{"password": password.Result},
		}, k8s)
		if err != nil {
			return err
		}
		labels := pulumi.StringMap{"app": pulumi.String("web")}
		deployment, err := appsv1.NewDeployment(ctx, "web", &appsv1.DeploymentArgs{
			Metadata: &metav1.ObjectMetaArgs{Namespace: namespace},
			Spec: &appsv1.DeploymentSpecArgs{
				Replicas: pulumi.Int(replicas),
				Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
				Template: &corev1.PodTemplateSpecArgs{
					Metadata: &metav1.ObjectMetaArgs{Labels: labels},
					Spec: &corev1.PodSpecArgs{
						Containers: corev1.ContainerArray{&corev1.ContainerArgs{
							Name: pulumi.String("web"),
							// kwok runs no containers, so the image is never pulled.
							Image: pulumi.String("python:3.13-slim"),
							Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{ContainerPort: pulumi.Int(8000)}},
							Env: corev1.EnvVarArray{&corev1.EnvVarArgs{
								Name: pulumi.String("APP_PASSWORD"),
								ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
									Name: secret.Metadata.Name(),
									Key:  pulumi.String("password"),
								}},
							}},
						}},
					},
				},
			},
		}, k8s)
		if err != nil {
			return err
		}
		service, err := corev1.NewService(ctx, "web", &corev1.ServiceArgs{
			Metadata: &metav1.ObjectMetaArgs{Namespace: namespace},
			Spec: &corev1.ServiceSpecArgs{
				Selector: labels,
				Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
					Port:       pulumi.Int(80),
					TargetPort: pulumi.Int(8000),
				}},
			},
		}, k8s)
		if err != nil {
			return err
		}
		ctx.Export("readyReplicas", deployment.Status.ReadyReplicas())
		ctx.Export("clusterIP", service.Spec.ClusterIP())
		ctx.Export("passwordLength", pulumi.ToSecret(password.Result.ApplyT(func(p string) int { return len(p) })))
		return nil
	}
}

// newStack makes a stack of an inline program with everything on local disk:
// a throwaway project folder and a file:// backend in the test's temp dir.
func newStack(ctx context.Context, t *testing.T, tc toolchain.Toolchain, kubeconfig string) auto.Stack {
	t.Helper()
	workDir := t.TempDir()
	project := "name: nexios-e2e\nruntime: go\ndescription: nexios-k8s end-to-end test\n"
	if err := os.WriteFile(filepath.Join(workDir, "Pulumi.yaml"), []byte(project), 0o644); err != nil {
		t.Fatalf("write Pulumi.yaml: %v", err)
	}
	backend := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(backend, 0o755); err != nil {
		t.Fatalf("create backend folder: %v", err)
	}
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: tc.Root})
	if err != nil {
		t.Fatalf("pulumi CLI in %s: %v", tc.BinDir(), err)
	}
	env := tc.PulumiEnv()
	env["PULUMI_BACKEND_URL"] = "file://" + backend
	env["PULUMI_CONFIG_PASSPHRASE"] = "nexios-e2e"
	stack, err := auto.UpsertStackLocalSource(ctx, "e2e", workDir,
		auto.Program(program(kubeconfig)),
		auto.Pulumi(cli),
		auto.EnvVars(env),
		auto.SecretsProvider("passphrase"),
	)
	if err != nil {
		t.Fatalf("create stack: %v", err)
	}
	return stack
}

// freshCluster is where every end-to-end test starts: it skips under -short, requires the built tools,
// and starts a new local cluster of the test's own, removed when the test ends. The context leaves a
// minute of the test's deadline for that cleanup.
func freshCluster(t *testing.T, name string) (context.Context, toolchain.Toolchain, string) {
	t.Helper()
	ctx, tc, cluster := startFreshCluster(t, localcluster.Cluster{Name: name})
	kubeconfig, err := cluster.Kubeconfig(ctx)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	return ctx, tc, kubeconfig
}

// startFreshCluster is freshCluster for a cluster of any shape, returning the cluster.
func startFreshCluster(t *testing.T, cluster localcluster.Cluster) (context.Context, toolchain.Toolchain, localcluster.Cluster) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: starts a cluster and runs the Pulumi engine; skipped under -short")
	}
	tc := requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeLeft(t))
	t.Cleanup(cancel)
	cluster.Toolchain, cluster.Log = tc, testLog{t}
	name := cluster.Name
	// A cluster left by an interrupted run may hold its objects: start clean.
	if err := cluster.Stop(ctx); err != nil {
		t.Fatalf("removing a leftover cluster: %v", err)
	}
	start := time.Now()
	if err := cluster.Start(ctx); err != nil {
		t.Fatalf("starting cluster %s: %v", name, err)
	}
	t.Logf("cluster %s ready in %s", name, time.Since(start).Round(time.Millisecond))
	// Registered after cancel, so it runs first: cleanups run last in, first out.
	t.Cleanup(func() {
		if err := cluster.Stop(context.WithoutCancel(ctx)); err != nil {
			t.Errorf("stopping cluster %s: %v", name, err)
		}
	})
	return ctx, tc, cluster
}

// requireTools fails when the tools are missing and the run asked for the
// end-to-end test (CI, or NEXIOS_E2E=1 as `make e2e` sets), and skips
// otherwise, so a plain `go test ./...` without `make tools` stays green.
func requireTools(t *testing.T) toolchain.Toolchain {
	t.Helper()
	tc, err := toolchain.Find()
	if err == nil {
		err = tc.Require(slices.Concat(toolchain.PulumiTools, toolchain.ClusterTools)...)
	}
	if err == nil {
		return tc
	}
	if os.Getenv("CI") != "" || os.Getenv("NEXIOS_E2E") == "1" {
		t.Fatalf("e2e: %v", err)
	}
	t.Skipf("e2e: %v (set NEXIOS_E2E=1 to make this a failure)", err)
	return toolchain.Toolchain{}
}

func requireOnlySame(t *testing.T, step string, changes *map[string]int) {
	t.Helper()
	if changes == nil {
		t.Errorf("%s: no change summary", step)
		return
	}
	if ops := slices.Sorted(maps.Keys(*changes)); !slices.Equal(ops, []string{"same"}) {
		t.Errorf("%s: changes %v, want only \"same\"", step, *changes)
	}
}

// timeLeft leaves a minute of the test's deadline for cleanup, so an
// operation that hangs still lets the cluster be stopped.
func timeLeft(t *testing.T) time.Duration {
	deadline, ok := t.Deadline()
	if !ok {
		return 20 * time.Minute
	}
	return time.Until(deadline) - time.Minute
}

// testLog sends the engine's and the cluster's progress to the test log,
// one t.Log call per line.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(bytes.TrimRight(p, "\n"))) {
		l.t.Log(strings.TrimRight(line, "\n"))
	}
	return len(p), nil
}

var _ io.Writer = testLog{}
