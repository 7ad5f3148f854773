package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nexios-labs/nexios-k8s/internal/localcluster"
)

// drillCluster is the disaster-recovery drill's own local cluster.
const drillCluster = "nexios-e2e-drill"

// drillExports are the outputs other teams read that a recovery must leave unchanged: where the app
// and its monitoring are, by name and URL (docs/disaster-recovery.md).
var drillExports = []string{"namespace", "serviceName", "internalUrl", "monitoringNamespace", "prometheusUrl", "grafanaUrl"}

// drillRenamed are the exports that name auto-named objects, which a recovery creates anew under new
// names (docs/disaster-recovery.md says so): no other export may change.
var drillRenamed = []string{"appSecretName", "configMapName", "deploymentName"}

// drillResult is one scenario's row of the drill's table.
type drillResult struct {
	scenario string
	// point is the age of the newest backup when the cluster was lost (the recovery point), took the
	// recovery from the fresh cluster's API answering to every workload Ready (the recovery time).
	point, took time.Duration
	outputsKept bool
}

// TestDisasterRecoveryDrill is issue 13's drill (`make dr-drill`), on simulated nodes: the dev stack is
// deployed and its state backed up, then the whole cluster is lost (nexios-cluster down: every object
// gone) and a fresh one of the same name started, and the stack is brought back with the documented
// procedure of docs/disaster-recovery.md, first with the state kept, then with the state lost too and
// restored from the backup file. Each recovery must end with every workload Ready and the outputs
// other teams read unchanged; the drill prints the recovery point and time of each. There is no
// in-cluster database yet, so no rows are restored: the recovery point is the state backup's.
func TestDisasterRecoveryDrill(t *testing.T) {
	ctx, tc, p := pipelineTest(t)
	cluster := p.onOwnCluster(ctx, drillCluster)

	p.mustRun(ctx, "up", "dev")
	before := drillOutputs(ctx, t, p)
	beforeWorkloads := stackWorkloads(ctx, t, cluster, before)
	secretKey := generatedSecretKey(ctx, t, tc, p)
	backup := filepath.Join(t.TempDir(), "dev-state.json")
	p.mustRun(ctx, "backup", "dev", "--out", backup)
	backedUp := time.Now()

	var results []drillResult
	scenarios := []struct {
		name string
		// loseState also deletes every file the backend holds of the stack.
		loseState bool
		// procedure is the documented recovery, run on the fresh cluster.
		procedure [][]string
	}{
		{
			name:      "cluster lost, state kept",
			procedure: [][]string{{"refresh", "dev"}, {"up", "dev"}},
		},
		{
			name:      "cluster and state lost",
			loseState: true,
			procedure: [][]string{{"restore", "dev", "--from", backup}, {"recover", "dev"}, {"up", "dev"}},
		},
	}
	for _, sc := range scenarios {
		parent := t
		ok := t.Run(sc.name, func(t *testing.T) {
			p.t = t
			defer func() { p.t = parent }()
			lost := time.Now()
			if err := cluster.Stop(ctx); err != nil {
				t.Fatalf("losing the cluster: %v", err)
			}
			if sc.loseState {
				for _, path := range backendTraces(t, p.project, "dev") {
					if err := os.RemoveAll(path); err != nil {
						t.Fatalf("removing %s: %v", path, err)
					}
				}
			}
			started := time.Now()
			if err := cluster.Start(ctx); err != nil {
				t.Fatalf("starting a fresh cluster %s: %v", drillCluster, err)
			}
			apiReady := time.Now()
			t.Logf("fresh cluster %s: API ready in %s (not part of the recovery time)", drillCluster, apiReady.Sub(started).Round(time.Millisecond))
			if got := stackWorkloads(ctx, t, cluster, before); len(got) != 0 {
				t.Fatalf("the fresh cluster already holds the stack's workloads: %v", got)
			}

			for _, args := range sc.procedure {
				r := p.mustRun(ctx, args...)
				if args[0] == "refresh" || args[0] == "recover" {
					checkRefreshDroppedTheObjects(t, r.stdout)
				}
			}
			got := stackWorkloads(ctx, t, cluster, before)
			took := time.Since(apiReady)
			if !maps.Equal(got, beforeWorkloads) {
				t.Errorf("workloads after the recovery %v, want those before the loss %v", got, beforeWorkloads)
			}
			for name, w := range got {
				if w.desired == 0 || w.ready != w.desired {
					t.Errorf("%s: %s after the recovery, want every replica Ready", name, w)
				}
			}

			after := drillOutputs(ctx, t, p)
			kept := true
			for _, key := range drillExports {
				if after[key] != before[key] {
					kept = false
					t.Errorf("output %s = %v after the recovery, %v before the loss: other teams read it", key, after[key], before[key])
				}
			}
			var renamed []string
			for key, value := range after {
				if !reflect.DeepEqual(value, before[key]) {
					renamed = append(renamed, key)
				}
			}
			if slices.Sort(renamed); !slices.Equal(renamed, drillRenamed) {
				t.Errorf("exports changed by the recovery: %v, want only the auto-named objects' %v", renamed, drillRenamed)
			}
			if generatedSecretKey(ctx, t, tc, p) != secretKey {
				t.Errorf("the app's secret key changed: sessions and tokens it signed before the loss are void")
			}
			if r := p.run(ctx, "preview", "dev", "--expect-no-changes"); r.code != 0 {
				t.Errorf("preview after the recovery: exit %d, want 0 (state and cluster agree):\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			results = append(results, drillResult{scenario: sc.name, point: lost.Sub(backedUp), took: took, outputsKept: kept})
		})
		if !ok {
			break
		}
	}
	t.Log(drillTable(results))
}

// summaryLine is a line of deploy's change summary: a resource type and its counts by operation.
var summaryLine = regexp.MustCompile(`^(\S+:\S+)\s+([a-z-]+ \d+(?:, [a-z-]+ \d+)*)$`)

// checkRefreshDroppedTheObjects reads a refresh's summary (one line per resource type that changed,
// then the totals) on the fresh cluster: every Kubernetes object, the namespaces included, left the
// state, and nothing else did. The provider resource stays (its kubeconfig comes from KUBECONFIG, not
// an input, so a new cluster does not replace it), and so do the generated secrets, which live in the
// state alone.
func checkRefreshDroppedTheObjects(t *testing.T, stdout string) {
	t.Helper()
	var types []string
	for line := range strings.Lines(stdout) {
		if strings.HasPrefix(line, "stack dev: ") {
			t.Logf("refresh on the fresh cluster: %s", strings.TrimSpace(line))
		}
		m := summaryLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		switch typ, ops := m[1], m[2]; {
		case strings.HasPrefix(typ, "kubernetes:") && strings.HasPrefix(ops, "delete ") && !strings.Contains(ops, ","):
			types = append(types, typ)
		case strings.HasPrefix(typ, "kubernetes:") || strings.HasPrefix(typ, "random:") || strings.HasPrefix(typ, "pulumi:providers:"):
			t.Errorf("refresh on the fresh cluster: %s %s, want Kubernetes objects deleted from the state and nothing else changed", typ, ops)
		}
	}
	if !slices.Contains(types, "kubernetes:core/v1:Namespace") || !slices.Contains(types, "kubernetes:apps/v1:Deployment") {
		t.Errorf("refresh on the fresh cluster dropped %v from the state, want the namespaces and deployments among them:\n%s", types, stdout)
	}
}

// drillOutputs reads the stack's outputs as other teams do, with `deploy outputs --json`, and checks
// that each one the drill must keep is set.
func drillOutputs(ctx context.Context, t *testing.T, p *pipeline) map[string]any {
	t.Helper()
	r := p.mustRun(ctx, "outputs", "dev", "--json")
	var outputs map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &outputs); err != nil {
		t.Fatalf("outputs --json is not JSON: %v\n%s", err, r.stdout)
	}
	for _, key := range drillExports {
		if s, _ := outputs[key].(string); s == "" {
			t.Fatalf("output %s is %v, want a name or URL:\n%s", key, outputs[key], r.stdout)
		}
	}
	return outputs
}

// stackWorkloads lists the workloads of the stack's app and monitoring namespaces, by namespace, kind
// and name; an absent namespace has none.
func stackWorkloads(ctx context.Context, t *testing.T, cluster localcluster.Cluster, outputs map[string]any) map[string]workload {
	t.Helper()
	kubeconfig, err := cluster.Kubeconfig(ctx)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	api := newAPIClient(t, kubeconfig)
	all := map[string]workload{}
	for _, key := range []string{"namespace", "monitoringNamespace"} {
		namespace, _ := outputs[key].(string)
		if code := api.get(t, "/api/v1/namespaces/"+namespace, nil); code != http.StatusOK {
			continue
		}
		for name, w := range workloads(t, api, namespace) {
			all[namespace+"/"+name] = w
		}
	}
	return all
}

// drillTable prints the drill's figures, one row per scenario.
func drillTable(results []drillResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "disaster-recovery drill (simulated nodes: kwok makes pods Ready at once, so the recovery time measures the control path, not image pulls or start-up)\n")
	fmt.Fprintf(&b, "%-26s  %-41s  %-38s  %s\n", "scenario", "recovery point (state backup age at loss)", "recovery time (fresh API to all Ready)", "outputs unchanged")
	for _, r := range results {
		fmt.Fprintf(&b, "%-26s  %-41s  %-38s  %s\n", r.scenario, fmt.Sprintf("%.1f s", r.point.Seconds()), fmt.Sprintf("%.1f s", r.took.Seconds()), map[bool]string{true: "yes", false: "NO"}[r.outputsKept])
	}
	fmt.Fprintf(&b, "database rows: none restored (no in-cluster database yet; the recovery point is the Pulumi state backup's)")
	return b.String()
}
