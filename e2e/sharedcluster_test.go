package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/components/monitoring"
	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

// sharedCluster is the shared-cluster test's own local cluster.
const sharedCluster = "nexios-e2e-shared"

// TestSharedCluster runs two stacks on one cluster through the built command: dev, then staging-dev,
// first with the dev stack's file (refused, naming dev's monitoring namespace and the fix), then with
// namespaces of its own (deployed beside dev); its destroy is refused while a namespace in its state
// carries dev's label, then runs, leaving dev exactly as it was and nothing of staging-dev's in any
// API kind, namespaced or cluster-scoped. Last, dev scales on a custom metric, registering the
// cluster's custom metrics API, and a third stack that needs it too is refused, naming dev, with
// nothing created in the cluster or the backend.
func TestSharedCluster(t *testing.T) {
	ctx, tc, p := pipelineTest(t)
	cluster := p.onOwnCluster(ctx, sharedCluster)

	p.mustRun(ctx, "up", "dev")
	kubeconfig, err := cluster.Kubeconfig(ctx)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	kubectl, err := tc.Path(toolchain.Kubectl)
	if err != nil {
		t.Fatal(err)
	}
	objects := func(stack string) []string { return labelledObjects(ctx, t, kubectl, kubeconfig, "nexios."+stack) }
	// dev's own objects, by kind, namespace and name: what staging-dev must never touch.
	devBefore := objects("dev")
	for _, want := range []string{"Namespace//monitoring", "Namespace//nexios-dev", "ClusterRole/"} {
		if !slices.ContainsFunc(devBefore, func(o string) bool { return strings.HasPrefix(o, want) }) {
			t.Fatalf("dev's objects lack %s, so the checks below would prove nothing: %v", want, devBefore)
		}
	}
	requireDevUntouched := func(step string) {
		t.Helper()
		if after := objects("dev"); !slices.Equal(after, devBefore) {
			t.Errorf("%s: dev's objects changed:\nbefore %v\nafter  %v", step, devBefore, after)
		}
		if r := p.run(ctx, "preview", "dev", "--expect-no-changes"); r.code != 0 {
			t.Errorf("%s: preview dev --expect-no-changes: exit %d\n%s\n%s", step, r.code, r.stdout, r.stderr)
		}
	}

	devFile, err := os.ReadFile(filepath.Join(p.project, "Pulumi.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	stagingFile := filepath.Join(p.project, "Pulumi.staging-dev.yaml")

	t.Run("the dev stack's file for a second stack is refused before anything changes", func(t *testing.T) {
		if err := os.WriteFile(stagingFile, devFile, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, command := range []string{"preview", "up"} {
			r := p.run(ctx, command, "staging-dev")
			if r.code != 2 {
				t.Fatalf("%s staging-dev: exit %d, want 2:\n%s\n%s", command, r.code, r.stdout, r.stderr)
			}
			for _, want := range []string{
				"nothing was changed",
				"namespace monitoring (nexios:monitoring.namespace: monitoring) belongs to stack nexios.dev (its label nexios.dev/stack=nexios.dev)",
				"`pulumi config set --path 'nexios:monitoring.namespace' monitoring-staging-dev -s staging-dev`",
			} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%s: stderr lacks %q:\n%s", command, want, r.stderr)
				}
			}
			if left := objects("staging-dev"); len(left) > 0 {
				t.Errorf("%s: a refused staging-dev created %v", command, left)
			}
		}
		requireDevUntouched("after the refusals")
	})

	t.Run("staging-dev with namespaces of its own runs beside dev, and its destroy leaves dev as it was", func(t *testing.T) {
		var file map[string]any
		if err := yaml.Unmarshal(devFile, &file); err != nil {
			t.Fatal(err)
		}
		file["config"].(map[string]any)["nexios:monitoring"] = map[string]any{"namespace": "monitoring-staging-dev"}
		raw, err := yaml.Marshal(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(stagingFile, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		p.mustRun(ctx, "up", "staging-dev")
		staging := objects("staging-dev")
		for _, want := range []string{"Namespace//monitoring-staging-dev", "Namespace//nexios-staging-dev", "ClusterRole/", "ClusterRoleBinding/", "StatefulSet/monitoring-staging-dev/"} {
			if !slices.ContainsFunc(staging, func(o string) bool { return strings.HasPrefix(o, want) }) {
				t.Errorf("staging-dev's objects lack %s: %v", want, staging)
			}
		}
		requireDevUntouched("after staging-dev's up")

		// A destroy whose state holds a namespace that another stack's label names (an up from before
		// these checks took it over) is refused with nothing deleted.
		label := func(owner string) {
			t.Helper()
			runKubectl(ctx, t, kubectl, kubeconfig, "label", "--overwrite", "namespace", "monitoring-staging-dev", kube.LabelStack+"="+owner)
		}
		label("nexios.dev")
		r := p.run(ctx, "destroy", "staging-dev")
		label("nexios.staging-dev")
		if want := "namespace monitoring-staging-dev belongs to stack nexios.dev"; r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("destroy of a state holding another stack's namespace: exit %d, want 2 with %q:\n%s", r.code, want, r.stderr)
		}
		if after := objects("staging-dev"); !slices.Equal(after, staging) {
			t.Errorf("the refused destroy changed staging-dev's objects:\nbefore %v\nafter  %v", staging, after)
		}

		p.mustRun(ctx, "destroy", "staging-dev")
		if left := objects("staging-dev"); len(left) > 0 {
			t.Errorf("staging-dev's destroy left %v", left)
		}
		requireDevUntouched("after staging-dev's destroy")
	})

	t.Run("an unlabelled namespace is a stack's own only when its state holds it", func(t *testing.T) {
		kubectlRun := func(args ...string) string { return string(runKubectl(ctx, t, kubectl, kubeconfig, args...)) }
		// dev's namespace without its label, as an up from before the label left it: dev's state holds
		// it, so a preview (which exports the state for the check) and an up (which has read it) run,
		// and the up labels it again.
		kubectlRun("label", "namespace", "nexios-dev", kube.LabelStack+"-")
		if r := p.run(ctx, "preview", "dev"); r.code != 0 {
			t.Errorf("preview dev with its namespace unlabelled: exit %d, want 0:\n%s", r.code, r.stderr)
		}
		p.mustRun(ctx, "up", "dev")
		if got := kubectlRun("get", "namespace", "nexios-dev", "-o", "jsonpath={.metadata.labels."+strings.ReplaceAll(kube.LabelStack, ".", "\\.")+"}"); got != "nexios.dev" {
			t.Errorf("after up, namespace nexios-dev has %s=%q, want nexios.dev", kube.LabelStack, got)
		}
		requireDevUntouched("after dev's up labelled its namespace again")

		// A namespace made by hand that staging-dev's configuration names: not in its (now empty)
		// state, so both commands refuse it and change nothing.
		kubectlRun("create", "namespace", "nexios-staging-dev")
		for _, command := range []string{"preview", "up"} {
			r := p.run(ctx, command, "staging-dev")
			want := "namespace nexios-staging-dev (nexios:"
			whose := "exists without a " + kube.LabelStack + " label and is not in stack staging-dev's state"
			if r.code != 2 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, whose) {
				t.Errorf("%s staging-dev beside an unlabelled namespace it names: exit %d, want 2 naming it (%q, %q):\n%s", command, r.code, want, whose, r.stderr)
			}
		}
		if left := objects("staging-dev"); len(left) > 0 {
			t.Errorf("the refusals created %v", left)
		}
		kubectlRun("delete", "namespace", "nexios-staging-dev", "--wait")
	})

	// Last: on simulated nodes the adapter behind the custom metrics API never answers, and an
	// aggregated API registered but unavailable keeps every namespace of the cluster from finishing
	// deletion, so nothing is destroyed after dev registers it.
	t.Run("a second stack needing the custom metrics API that dev owns is refused before anything changes", func(t *testing.T) {
		// withCustomMetrics is the dev stack's file with an HPA on the request rate and, when given,
		// a monitoring namespace of its own.
		withCustomMetrics := func(monitoringNamespace string) []byte {
			t.Helper()
			var file map[string]any
			if err := yaml.Unmarshal(devFile, &file); err != nil {
				t.Fatal(err)
			}
			config := file["config"].(map[string]any)
			config["nexios:app"].(map[string]any)["autoscaling"] = map[string]any{
				"enabled": true, "minReplicas": 1, "maxReplicas": 2, "customMetrics": map[string]any{requestRateMetric: requestRateTarget},
			}
			if monitoringNamespace != "" {
				config["nexios:monitoring"] = map[string]any{"namespace": monitoringNamespace}
			}
			raw, err := yaml.Marshal(file)
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}
		if err := os.WriteFile(filepath.Join(p.project, "Pulumi.dev.yaml"), withCustomMetrics(""), 0o644); err != nil {
			t.Fatal(err)
		}
		p.mustRun(ctx, "up", "dev")
		devBefore := objects("dev")
		if want := "APIService//" + monitoring.CustomMetricsAPIService; !slices.Contains(devBefore, want) {
			t.Fatalf("dev's objects lack %s, so the refusal below would prove nothing: %v", want, devBefore)
		}

		const second = "metrics-dev"
		if err := os.WriteFile(filepath.Join(p.project, "Pulumi."+second+".yaml"), withCustomMetrics("monitoring-"+second), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, command := range []string{"preview", "up"} {
			r := p.run(ctx, command, second)
			if r.code != 2 {
				t.Fatalf("%s %s: exit %d, want 2:\n%s\n%s", command, second, r.code, r.stdout, r.stderr)
			}
			for _, want := range []string{
				"nothing was changed",
				"APIService " + monitoring.CustomMetricsAPIService + ", the custom metrics API that nexios:app.autoscaling.customMetrics needs, " +
					"belongs to stack nexios.dev (its label nexios.dev/stack=nexios.dev)",
				"`pulumi config rm --path 'nexios:app.autoscaling.customMetrics' -s " + second + "`",
			} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%s: stderr lacks %q:\n%s", command, want, r.stderr)
				}
			}
			// Its namespaces are its own: the API is the one conflict.
			if n := strings.Count(r.stderr, "\n  - "); n != 1 {
				t.Errorf("%s: %d conflicts, want the APIService's alone:\n%s", command, n, r.stderr)
			}
			if left := objects(second); len(left) > 0 {
				t.Errorf("%s: a refused %s created %v", command, second, left)
			}
			// Removing a stack leaves the empty folder of its lock behind: files are what a backend holds.
			if files := filesUnder(t, backendTraces(t, p.project, second)); len(files) > 0 {
				t.Errorf("%s: a refused %s left %v in the backend", command, second, files)
			}
		}
		if after := objects("dev"); !slices.Equal(after, devBefore) {
			t.Errorf("the refusals changed dev's objects:\nbefore %v\nafter  %v", devBefore, after)
		}
	})
}

// runKubectl runs kubectl on the cluster of kubeconfig and returns its standard output; a failure ends
// the test with its standard error.
func runKubectl(ctx context.Context, t *testing.T, kubectl, kubeconfig string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// labelledObjects lists every object of every listable API kind, namespaced and cluster-scoped, that
// carries kube.LabelStack=stack, as "Kind/namespace/name", sorted.
func labelledObjects(ctx context.Context, t *testing.T, kubectl, kubeconfig, stack string) []string {
	t.Helper()
	run := func(args ...string) []byte { return runKubectl(ctx, t, kubectl, kubeconfig, args...) }
	kinds := strings.Fields(string(run("api-resources", "--verbs=list", "-o", "name")))
	if len(kinds) < 30 {
		t.Fatalf("only %d listable API kinds: %v", len(kinds), kinds)
	}
	var list struct {
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	out := run("get", strings.Join(kinds, ","), "--all-namespaces", "-l", kube.LabelStack+"="+stack, "-o", "json")
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("kubectl get: %v", err)
	}
	found := map[string]bool{}
	for _, o := range list.Items {
		found[o.Kind+"/"+o.Metadata.Namespace+"/"+o.Metadata.Name] = true
	}
	return slices.Sorted(maps.Keys(found))
}

// filesUnder lists the files among paths and in the folders among them.
func filesUnder(t *testing.T, paths []string) []string {
	t.Helper()
	var files []string
	for _, path := range paths {
		err := filepath.WalkDir(path, func(path string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			t.Fatalf("reading the backend: %v", err)
		}
	}
	return files
}
