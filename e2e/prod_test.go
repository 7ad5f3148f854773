package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
	nexios "github.com/nexios-labs/nexios-k8s/program"
)

// prodCluster is the prod test's own local cluster.
const prodCluster = "nexios-e2e-prod"

// TestProdProfile deploys the committed prod stack (Pulumi.prod.yaml, with a database URL set as a
// secret) to a local cluster of the default size, three nodes of 4 CPU / 16Gi over three zones, and
// checks that every workload is Ready, every volume claim of Prometheus and Elasticsearch (its snapshot
// repository's included) is Bound, the autoscaler and disruption budgets exist, a second up changes
// nothing, and destroy removes it all, volumes included.
//
// Only the ingress is off: no ingress controller runs in the local cluster, so the provider would
// wait forever for the Ingress's address. Volume claims are bound by the cluster's default
// StorageClass (kube-controller-manager's hostPath provisioner); kwok simulates the pods, so Ready
// is kwok's word and nothing writes to the volumes.
func TestProdProfile(t *testing.T) {
	ctx, tc, kubeconfig := freshCluster(t, prodCluster)
	api := newAPIClient(t, kubeconfig)
	stack := prodStack(ctx, t, tc, kubeconfig)
	progress := optup.ProgressStreams(testLog{t})

	start := time.Now()
	res, err := stack.Up(ctx, progress)
	if err != nil {
		t.Fatalf("first up: %v\n%s", err, pendingPods(t, api))
	}
	t.Logf("first up took %s", time.Since(start).Round(time.Second))
	namespaces := map[string]string{}
	for _, key := range []string{nexios.ExportNamespace, nexios.ExportMonitoringNamespace, nexios.ExportLoggingNamespace} {
		ns, _ := res.Outputs[key].Value.(string)
		if ns == "" {
			t.Fatalf("output %s = %v, want a namespace", key, res.Outputs[key].Value)
		}
		namespaces[key] = ns
	}
	if got := res.Outputs[nexios.ExportEnvironment].Value; got != "prod" {
		t.Errorf("environment output = %v, want prod", got)
	}

	t.Run("every workload is ready", func(t *testing.T) {
		// What the prod profile runs, by app.kubernetes.io/name and kind, with the replicas it asks
		// for; any other workload in these namespaces must be Ready too.
		want := map[string]map[string]int{
			namespaces[nexios.ExportNamespace]: {"deployment/nexios": 3},
			namespaces[nexios.ExportMonitoringNamespace]: {
				"statefulset/prometheus": 1, "statefulset/alertmanager": 2, "deployment/grafana": 1,
			},
			namespaces[nexios.ExportLoggingNamespace]: {"statefulset/elasticsearch": 3, "deployment/kibana": 2},
			// Fluent Bit runs on each of the three nodes, in a namespace of its own (host paths).
			namespaces[nexios.ExportLoggingNamespace] + "-agents": {"daemonset/fluent-bit": 3},
		}
		for ns, wanted := range want {
			found := workloads(t, api, ns)
			t.Logf("%s: %v", ns, found)
			for name, replicas := range wanted {
				if w, ok := found[name]; !ok {
					t.Errorf("%s: no %s; found %v", ns, name, found)
				} else if w.desired != replicas {
					t.Errorf("%s: %s wants %d replicas, want %d", ns, name, w.desired, replicas)
				}
			}
			for name, w := range found {
				if w.ready != w.desired || w.desired < 1 {
					t.Errorf("%s: %s has %d of %d replicas ready", ns, name, w.ready, w.desired)
				}
			}
		}
	})

	t.Run("every volume claim is bound", func(t *testing.T) {
		// One claim for Prometheus, one per Elasticsearch node and the snapshot repository's shared one
		// (ReadWriteMany, which the local cluster's hostPath provisioner binds too).
		for key, want := range map[string]int{nexios.ExportMonitoringNamespace: 1, nexios.ExportLoggingNamespace: 4} {
			ns := namespaces[key]
			var claims struct {
				Items []struct {
					Metadata struct {
						Name string `json:"name"`
					} `json:"metadata"`
					Status struct {
						Phase string `json:"phase"`
					} `json:"status"`
				} `json:"items"`
			}
			if code := api.get(t, "/api/v1/namespaces/"+ns+"/persistentvolumeclaims", &claims); code != http.StatusOK {
				t.Fatalf("GET claims in %s: HTTP %d", ns, code)
			}
			if len(claims.Items) != want {
				t.Errorf("%s has %d volume claims, want %d", ns, len(claims.Items), want)
			}
			for _, c := range claims.Items {
				if c.Status.Phase != "Bound" {
					t.Errorf("%s: claim %s is %s, want Bound", ns, c.Metadata.Name, c.Status.Phase)
				}
			}
		}
	})

	t.Run("the autoscaler and disruption budgets exist", func(t *testing.T) {
		app := namespaces[nexios.ExportNamespace]
		// By namespace, the app.kubernetes.io/name of each object wanted: prod guards every
		// replicated workload with a budget.
		for _, want := range []struct{ path, namespace, name string }{
			{"/apis/autoscaling/v2", app, "nexios"},
			{"/apis/policy/v1", app, "nexios"},
			{"/apis/policy/v1", namespaces[nexios.ExportMonitoringNamespace], "alertmanager"},
			{"/apis/policy/v1", namespaces[nexios.ExportLoggingNamespace], "elasticsearch"},
			{"/apis/policy/v1", namespaces[nexios.ExportLoggingNamespace], "kibana"},
		} {
			resource := "poddisruptionbudgets"
			if strings.HasPrefix(want.path, "/apis/autoscaling/") {
				resource = "horizontalpodautoscalers"
			}
			var list struct {
				Items []struct {
					Metadata struct {
						Labels map[string]string `json:"labels"`
					} `json:"metadata"`
				} `json:"items"`
			}
			path := want.path + "/namespaces/" + want.namespace + "/" + resource + "?labelSelector=app.kubernetes.io%2Fname%3D" + want.name
			if code := api.get(t, path, &list); code != http.StatusOK || len(list.Items) != 1 {
				t.Errorf("%s of %s in %s: HTTP %d, %d found; want one", resource, want.name, want.namespace, code, len(list.Items))
			}
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
	// Deleting the namespaces deletes the claims; the StorageClass's Delete policy then deletes
	// their volumes.
	deadline := time.Now().Add(2 * time.Minute)
	waitFor := func(what string, done func() bool) {
		t.Helper()
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("%s after destroy", what)
			}
			time.Sleep(time.Second)
		}
	}
	for _, ns := range namespaces {
		waitFor("namespace "+ns+" still exists", func() bool {
			return api.get(t, "/api/v1/namespaces/"+ns, nil) == http.StatusNotFound
		})
	}
	waitFor("volumes are left", func() bool {
		var volumes struct {
			Items []any `json:"items"`
		}
		return api.get(t, "/api/v1/persistentvolumes", &volumes) == http.StatusOK && len(volumes.Items) == 0
	})
}

// localDatabaseURL is the prod profile's required database URL in local tests: set as a secret, never
// reached (kwok runs no container).
const localDatabaseURL = "postgresql://nexios:e2e@db.invalid:5432/nexios"

// localProdConfig is the committed Pulumi.prod.yaml's configuration as the local cluster can run it:
// the ingress off (no ingress controller runs there) and the environment explicit.
func localProdConfig(t *testing.T, tc toolchain.Toolchain) map[string]any {
	t.Helper()
	var stackFile struct {
		Config map[string]any `yaml:"config"`
	}
	raw, err := os.ReadFile(filepath.Join(tc.Root, "Pulumi.prod.yaml"))
	if err != nil {
		t.Fatalf("reading Pulumi.prod.yaml: %v", err)
	}
	if err := yaml.Unmarshal(raw, &stackFile); err != nil {
		t.Fatalf("parsing Pulumi.prod.yaml: %v", err)
	}
	app, _ := stackFile.Config["nexios:app"].(map[string]any)
	ingress, _ := app["ingress"].(map[string]any)
	if ingress == nil {
		t.Fatalf("Pulumi.prod.yaml has no nexios:app.ingress to turn off: %v", app)
	}
	ingress["enabled"] = false
	stackFile.Config["nexios:environment"] = "prod"
	return stackFile.Config
}

// prodStack writes localProdConfig, with the test cluster as target, into a scratch project, and opens
// it with the program inline in a scratch backend.
func prodStack(ctx context.Context, t *testing.T, tc toolchain.Toolchain, kubeconfig string) auto.Stack {
	t.Helper()
	config := localProdConfig(t, tc)
	config["nexios:target"] = map[string]any{"kubeconfig": kubeconfig}
	rendered, err := yaml.Marshal(map[string]any{"config": config})
	if err != nil {
		t.Fatalf("rendering the stack file: %v", err)
	}
	project, err := os.ReadFile(filepath.Join(tc.Root, "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("reading Pulumi.yaml: %v", err)
	}
	workDir := t.TempDir()
	for name, content := range map[string][]byte{"Pulumi.yaml": project, "Pulumi.prod.yaml": rendered} {
		if err := os.WriteFile(filepath.Join(workDir, name), content, 0o644); err != nil {
			t.Fatalf("writing %s: %v", name, err)
		}
	}
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: tc.Root})
	if err != nil {
		t.Fatalf("pulumi CLI in %s: %v", tc.BinDir(), err)
	}
	env := tc.PulumiEnv()
	env["PULUMI_BACKEND_URL"] = "file://" + t.TempDir()
	env["PULUMI_CONFIG_PASSPHRASE"] = "nexios-e2e-prod"
	stack, err := auto.UpsertStackLocalSource(ctx, "prod", workDir,
		auto.Program(nexios.Run), auto.Pulumi(cli), auto.EnvVars(env), auto.SecretsProvider("passphrase"))
	if err != nil {
		t.Fatalf("creating the stack: %v", err)
	}
	if err := stack.SetConfig(ctx, "nexios:databaseUrl", auto.ConfigValue{Value: localDatabaseURL, Secret: true}); err != nil {
		t.Fatalf("setting databaseUrl: %v", err)
	}
	return stack
}

// workload is how many replicas a Deployment, StatefulSet or DaemonSet wants and how many are Ready.
type workload struct{ desired, ready int }

func (w workload) String() string { return fmt.Sprintf("%d/%d ready", w.ready, w.desired) }

// workloads lists the namespace's workloads by kind and app.kubernetes.io/name, e.g.
// "statefulset/elasticsearch".
func workloads(t *testing.T, api apiClient, namespace string) map[string]workload {
	t.Helper()
	found := map[string]workload{}
	for _, kind := range []string{"deployment", "statefulset", "daemonset"} {
		var list struct {
			Items []struct {
				Metadata struct {
					Name   string            `json:"name"`
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
				Spec struct {
					Replicas int `json:"replicas"`
				} `json:"spec"`
				Status struct {
					ReadyReplicas int `json:"readyReplicas"`
					// A DaemonSet's counts.
					DesiredNumberScheduled int `json:"desiredNumberScheduled"`
					NumberReady            int `json:"numberReady"`
				} `json:"status"`
			} `json:"items"`
		}
		if code := api.get(t, "/apis/apps/v1/namespaces/"+namespace+"/"+kind+"s", &list); code != http.StatusOK {
			t.Fatalf("GET %ss in %s: HTTP %d", kind, namespace, code)
		}
		for _, item := range list.Items {
			name := item.Metadata.Labels["app.kubernetes.io/name"]
			if name == "" {
				name = item.Metadata.Name
			}
			w := workload{desired: item.Spec.Replicas, ready: item.Status.ReadyReplicas}
			if kind == "daemonset" {
				w = workload{desired: item.Status.DesiredNumberScheduled, ready: item.Status.NumberReady}
			}
			found[kind+"/"+name] = w
		}
	}
	return found
}

// containerRequests is what the tests read of a pod spec's containers: their resource requests.
type containerRequests []struct {
	Resources struct {
		Requests map[string]string `json:"requests"`
	} `json:"resources"`
}

// pendingPods explains a failed up that timed out on scheduling: each Pending pod with what it
// requests and why the scheduler left it, which names the resource the nodes lack.
func pendingPods(t *testing.T, api apiClient) string {
	t.Helper()
	var pods struct {
		Items []struct {
			Metadata struct {
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Containers containerRequests `json:"containers"`
			} `json:"spec"`
			Status struct {
				Phase      string `json:"phase"`
				Conditions []struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if code := api.get(t, "/api/v1/pods?fieldSelector=status.phase%3DPending", &pods); code != http.StatusOK {
		return fmt.Sprintf("listing Pending pods: HTTP %d", code)
	}
	if len(pods.Items) == 0 {
		return "no pod is Pending"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d pods Pending:\n", len(pods.Items))
	for _, p := range pods.Items {
		var requests []string
		for _, c := range p.Spec.Containers {
			requests = append(requests, fmt.Sprint(c.Resources.Requests))
		}
		reason := ""
		for _, c := range p.Status.Conditions {
			if c.Type == "PodScheduled" {
				reason = c.Message
			}
		}
		fmt.Fprintf(&b, "  %s/%s requests %s: %s\n", p.Metadata.Namespace, p.Metadata.Name, strings.Join(requests, " + "), reason)
	}
	return b.String()
}
