package e2e

import (
	"context"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
	nexios "github.com/nexios-labs/nexios-k8s/program"
)

// monitoringCluster is this test's own local cluster.
const monitoringCluster = "nexios-e2e-monitoring"

// TestMonitoringStack deploys the dev stack (the app and the bundled monitoring stack) with the real
// engine and provider, and checks that every monitoring workload is Ready, that no custom metrics API
// is registered without a scaling metric, and that a second up changes nothing.
//
// The prod profile, with Prometheus on a volume claim, is TestProdProfile's. kwok simulates the pods,
// so Ready is kwok's word and the aggregated API is registered but never answers.
func TestMonitoringStack(t *testing.T) {
	ctx, tc, kubeconfig := freshCluster(t, monitoringCluster)
	stack := devStack(ctx, t, tc, kubeconfig, exampleAppImage)
	api := newAPIClient(t, kubeconfig)
	progress := optup.ProgressStreams(testLog{t})

	res, err := stack.Up(ctx, progress)
	if err != nil {
		t.Fatalf("first up: %v", err)
	}
	namespace, _ := res.Outputs[nexios.ExportMonitoringNamespace].Value.(string)
	if namespace != "monitoring" {
		t.Fatalf("monitoringNamespace output = %v, want monitoring", res.Outputs[nexios.ExportMonitoringNamespace].Value)
	}
	for _, key := range []string{nexios.ExportPrometheusURL, nexios.ExportGrafanaURL} {
		if url, _ := res.Outputs[key].Value.(string); url == "" {
			t.Errorf("output %s is empty", key)
		}
	}

	t.Run("every monitoring workload is ready", func(t *testing.T) {
		for kind, want := range map[string]int{"deployments": 2, "statefulsets": 2} {
			var list struct {
				Items []struct {
					Metadata struct {
						Name string `json:"name"`
					} `json:"metadata"`
					Spec struct {
						Replicas int `json:"replicas"`
					} `json:"spec"`
					Status struct {
						ReadyReplicas int `json:"readyReplicas"`
					} `json:"status"`
				} `json:"items"`
			}
			if code := api.get(t, "/apis/apps/v1/namespaces/"+namespace+"/"+kind, &list); code != http.StatusOK {
				t.Fatalf("GET %s: HTTP %d", kind, code)
			}
			if len(list.Items) != want {
				t.Errorf("%d %s in %s, want %d (kube-state-metrics, Grafana; Prometheus, Alertmanager)", len(list.Items), kind, namespace, want)
			}
			for _, w := range list.Items {
				if w.Status.ReadyReplicas != w.Spec.Replicas || w.Spec.Replicas < 1 {
					t.Errorf("%s %s: %d of %d replicas ready", kind, w.Metadata.Name, w.Status.ReadyReplicas, w.Spec.Replicas)
				}
			}
		}
	})

	t.Run("without a scaling metric no custom metrics API is registered", func(t *testing.T) {
		// An adapter serving no rule would leave the APIService unavailable, which blocks namespace deletion.
		if code := api.get(t, "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.custom.metrics.k8s.io", nil); code != http.StatusNotFound {
			t.Errorf("GET the custom metrics APIService: HTTP %d, want 404", code)
		}
	})

	t.Run("a second up changes nothing", func(t *testing.T) {
		res, err := stack.Up(ctx, progress)
		if err != nil {
			t.Fatalf("second up: %v", err)
		}
		requireOnlySame(t, "second up", res.Summary.ResourceChanges)
	})

	if _, err := stack.Destroy(ctx, optdestroy.ProgressStreams(testLog{t})); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	// An aggregated API left registered would keep namespaces from ever finishing deletion.
	deadline := time.Now().Add(2 * time.Minute)
	for _, path := range []string{"/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.custom.metrics.k8s.io", "/api/v1/namespaces/" + namespace, "/api/v1/namespaces/nexios-dev"} {
		for api.get(t, path, nil) != http.StatusNotFound {
			if time.Now().After(deadline) {
				t.Fatalf("%s still exists after destroy", path)
			}
			time.Sleep(time.Second)
		}
	}
}

// exampleAppImage is the example app's image (examples/app), built by `make images`; the committed
// dev stack deploys it.
const exampleAppImage = "ghcr.io/nexios-labs/nexios-example-app:0.1.0"

// devStack is the dev stack of the real program with the given app image, inline, in a scratch
// project with its own file backend, aimed at the test cluster through nexios:target.kubeconfig.
func devStack(ctx context.Context, t *testing.T, tc toolchain.Toolchain, kubeconfig, image string) auto.Stack {
	t.Helper()
	return devStackWith(ctx, t, tc, devStackConfig(kubeconfig, image, nil, nil))
}

// devStackConfig is a dev stack file's config section: the app image and the target, plus the given
// keys of nexios:app and nexios:monitoring (nil for none).
func devStackConfig(kubeconfig, image string, app, monitoring map[string]any) map[string]any {
	appConfig := map[string]any{"image": image}
	maps.Copy(appConfig, app)
	config := map[string]any{
		"nexios:app":    appConfig,
		"nexios:target": map[string]any{"kubeconfig": kubeconfig},
	}
	if monitoring != nil {
		config["nexios:monitoring"] = monitoring
	}
	return config
}

// writeStackFile writes Pulumi.dev.yaml in dir with the given config section.
func writeStackFile(t *testing.T, dir string, config map[string]any) {
	t.Helper()
	content, err := yaml.Marshal(map[string]any{"config": config})
	if err != nil {
		t.Fatalf("stack file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.dev.yaml"), content, 0o644); err != nil {
		t.Fatalf("writing Pulumi.dev.yaml: %v", err)
	}
}

// devStackWith is devStack with the config section of its stack file given whole.
func devStackWith(ctx context.Context, t *testing.T, tc toolchain.Toolchain, config map[string]any) auto.Stack {
	t.Helper()
	workDir := t.TempDir()
	project, err := os.ReadFile(filepath.Join(tc.Root, "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("reading Pulumi.yaml: %v", err)
	}
	if err := os.WriteFile(filepath.Join(workDir, "Pulumi.yaml"), project, 0o644); err != nil {
		t.Fatalf("writing Pulumi.yaml: %v", err)
	}
	writeStackFile(t, workDir, config)
	backend := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(backend, 0o755); err != nil {
		t.Fatalf("creating the backend folder: %v", err)
	}
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: tc.Root})
	if err != nil {
		t.Fatalf("pulumi CLI in %s: %v", tc.BinDir(), err)
	}
	env := tc.PulumiEnv()
	env["PULUMI_BACKEND_URL"] = "file://" + backend
	env["PULUMI_CONFIG_PASSPHRASE"] = "nexios-e2e-monitoring"
	stack, err := auto.UpsertStackLocalSource(ctx, "dev", workDir,
		auto.Program(nexios.Run),
		auto.Pulumi(cli),
		auto.EnvVars(env),
		auto.SecretsProvider("passphrase"),
	)
	if err != nil {
		t.Fatalf("creating the stack: %v", err)
	}
	return stack
}
