package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nexios-labs/nexios-k8s/internal/localcluster"
	"github.com/nexios-labs/nexios-k8s/internal/s3local"
)

// drillCluster is the disaster-recovery drill's own local cluster. Its name is short because the real
// node's kubelet binds unix sockets under the test's temporary folder, which is named after this long
// test, and a socket's path must fit in 107 bytes (nexios-cluster refuses a deeper state folder).
const drillCluster = "nexios-dr"

// drillExports are the outputs other teams read that a recovery must leave unchanged: where the app
// and its monitoring are, by name and URL (docs/disaster-recovery.md).
var drillExports = []string{"namespace", "serviceName", "internalUrl", "monitoringNamespace", "prometheusUrl", "grafanaUrl"}

// drillRenamed are the exports that name auto-named objects, which a recovery creates anew under new
// names (docs/disaster-recovery.md says so): no other export may change.
var drillRenamed = []string{"appSecretName", "configMapName", "deploymentName"}

// drillResult is one scenario's row of the drill's table.
type drillResult struct {
	scenario string
	// point is the age of the newest database dump when the cluster was lost (the recovery point),
	// took the recovery from the fresh cluster's API answering to every workload Ready and the
	// database holding the rows of that dump again (the recovery time).
	point, took time.Duration
	outputsKept bool
}

// hostOnLink is the host's address on the real node's link (tools/cluster/devcluster: hostLinkIP):
// the one address of this machine the pods reach, and where the drill's bucket listens.
const hostOnLink = "10.253.0.1"

// drillBucket is the drill's stand-in for an S3 bucket off the cluster: on this machine, outside the
// cluster, so it outlives each loss; it checks every request's signature (internal/s3local).
var drillBucket = struct {
	name, prefix, region, keyID, secretKey string
}{"nexios-drill-backups", "nexios/dev/", "local-1", "NEXIOSDRILLKEY", "drill/Secret+Key0"}

// TestDisasterRecoveryDrill is issue 13's drill (`make dr-drill`), on a cluster with a real node: the
// dev stack is deployed with its PostgreSQL backed up into a bucket off the cluster, rows are written
// through the app and a backup is taken with the documented commands (docs/disaster-recovery.md), one
// more row is written after it, and the state is backed up. Then the whole cluster is lost
// (nexios-cluster down: every object and volume gone) and a fresh one of the same name started, and
// the stack is brought back with the documented procedure, first with the state kept, then with the
// state lost too and restored from its backup file, the database restored each time from the newest
// dump in the bucket. Each recovery must end with every workload Ready, the rows of the dump back and
// the row written after it absent (the recovery point is the dump's), and the outputs other teams
// read unchanged; the drill prints each scenario's recovery point and time.
func TestDisasterRecoveryDrill(t *testing.T) {
	ctx, tc, p := pipelineTest(t)
	probe := localcluster.Cluster{Toolchain: tc, Name: drillCluster}
	if err := probe.RealNodeSupport(ctx); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("NEXIOS_E2E") == "1" {
			t.Fatalf("this machine cannot run a real node, which the drill's database restore needs: %v", err)
		}
		t.Skipf("this machine cannot run a real node: %v", err)
	}
	bucket, err := s3local.Start("0.0.0.0:0", drillBucket.name, s3local.Credentials{
		AccessKeyID: drillBucket.keyID, SecretAccessKey: drillBucket.secretKey, Region: drillBucket.region,
	})
	if err != nil {
		t.Fatalf("starting the drill's bucket: %v", err)
	}
	t.Cleanup(func() { bucket.Close() })
	editStack(t, p, nil, fmt.Sprintf("  nexios:postgres:\n    backup:\n      enabled: true\n      retention: 3\n      storageSize: 256Mi\n"+
		"      s3:\n        endpoint: http://%s:%d\n        bucket: %s\n        prefix: %s\n        region: %s\n        accessKeyId: %s\n"+
		"        secretAccessKey:\n          secure: %s\n",
		hostOnLink, bucket.Port, drillBucket.name, drillBucket.prefix, drillBucket.region, drillBucket.keyID, encryptForDev(ctx, t, p, drillBucket.secretKey)))
	cluster := p.onOwnClusterWith(ctx, drillCluster, 1)

	p.mustRun(ctx, "up", "dev")
	before := drillOutputs(ctx, t, p)
	beforeWorkloads := stackWorkloads(ctx, t, cluster, before)
	secretKey := generatedSecretKey(ctx, t, tc, p)
	db := drillDatabase{t: t, cluster: cluster, namespace: before["namespace"].(string), url: before["internalUrl"].(string)}
	dumped := []string{db.write(ctx, "before-backup-1"), db.write(ctx, "before-backup-2")}
	db.runDocumented(ctx, "Take a backup now")
	backedUp := time.Now()
	if objects, err := bucket.Objects(drillBucket.prefix); err != nil || len(objects) != 1 || objects[0].Size == 0 {
		t.Fatalf("the bucket holds %v (%v) after the backup, want one dump", objects, err)
	}
	lostRow := db.write(ctx, "after-backup")
	backup := filepath.Join(t.TempDir(), "dev-state.json")
	p.mustRun(ctx, "backup", "dev", "--out", backup)

	var results []drillResult
	scenarios := []struct {
		name string
		// loseState also deletes every file the backend holds of the stack.
		loseState bool
		// procedure is the documented recovery, run on the fresh cluster before the database restore.
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
			p.t, db.t = t, t
			defer func() { p.t, db.t = parent, parent }()
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
			if rows := db.rows(ctx); len(rows) != 0 {
				t.Fatalf("the fresh cluster's database holds %v before the restore, want it empty (a new claim)", rows)
			}
			db.runDocumented(ctx, "Restore the newest dump")
			rows := db.rows(ctx)
			took := time.Since(apiReady)
			for _, value := range dumped {
				if !slices.Contains(rows, value) {
					t.Errorf("after the restore the database holds %v, want the dumped row %s", rows, value)
				}
			}
			if slices.Contains(rows, lostRow) {
				t.Errorf("after the restore the database holds %s, written after the newest dump: the restore did not come from it", lostRow)
			}
			got := stackWorkloads(ctx, t, cluster, before)
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
	if rejected := bucket.Rejected(); len(rejected) > 0 {
		t.Errorf("the bucket refused requests for their signature: %v", rejected)
	}
	t.Log(drillTable(results))
}

// drillDatabase reaches the stack's PostgreSQL the way the app's users do, through the app's /db, and
// runs the documented backup and restore commands against the cluster.
type drillDatabase struct {
	t         *testing.T
	cluster   localcluster.Cluster
	namespace string
	url       string
	clients   int
}

// write stores a row through the app and returns its value, made unique by label.
func (d *drillDatabase) write(ctx context.Context, label string) string {
	d.t.Helper()
	value := fmt.Sprintf("drill-%s-%d", label, time.Now().UnixNano())
	out, ok := d.client(ctx, http.MethodPost, "/db?value="+value)
	if !ok || !strings.Contains(out, value) {
		d.t.Fatalf("POST /db: ok=%v output %q, want the row %s written", ok, out, value)
	}
	return value
}

// rows lists the values of the newest rows the app reads (its default limit, 10: more than the drill
// writes).
func (d *drillDatabase) rows(ctx context.Context) []string {
	d.t.Helper()
	out, ok := d.client(ctx, http.MethodGet, "/db")
	if !ok {
		d.t.Fatalf("GET /db: output %q, want the rows", out)
	}
	var values []string
	for _, m := range rowValue.FindAllStringSubmatch(out, -1) {
		values = append(values, m[1])
	}
	return values
}

// rowValue is a row's value in /db's answer.
var rowValue = regexp.MustCompile(`"value":\s*"([^"]*)"`)

// client runs a client pod in ingress-nginx, a namespace the app's NetworkPolicy admits.
func (d *drillDatabase) client(ctx context.Context, method, path string) (string, bool) {
	d.t.Helper()
	kubeconfig, err := d.cluster.Kubeconfig(ctx)
	if err != nil {
		d.t.Fatalf("kubeconfig: %v", err)
	}
	d.clients++
	return runClientPod(d.t, newAPIClient(d.t, kubeconfig), "ingress-nginx", fmt.Sprintf("drill-db-%d", d.clients), method, d.url+path)
}

// runDocumented runs the sh block under heading in docs/disaster-recovery.md against the cluster, with
// the stack's namespace as NS and the built kubectl first on PATH, as an operator would.
func (d *drillDatabase) runDocumented(ctx context.Context, heading string) {
	d.t.Helper()
	kubeconfig, err := d.cluster.Kubeconfig(ctx)
	if err != nil {
		d.t.Fatalf("kubeconfig: %v", err)
	}
	script := documentedBlock(d.t, "disaster-recovery.md", heading)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-eu", "-c", script)
	cmd.Env = append(os.Environ(), "NS="+d.namespace, "KUBECONFIG="+kubeconfig, "PATH="+d.cluster.Toolchain.BinDir()+":"+os.Getenv("PATH"))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		d.t.Fatalf("%q of docs/disaster-recovery.md: %v\n%s", heading, err, out)
	}
	d.t.Logf("%q of docs/disaster-recovery.md in %s:\n%s", heading, time.Since(start).Round(time.Millisecond), out)
}

// documentedBlock is the fenced sh block under the "### heading" of docs/name.
func documentedBlock(t *testing.T, name, heading string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "docs", name))
	if err != nil {
		t.Fatalf("reading docs/%s: %v", name, err)
	}
	_, section, found := strings.Cut(string(raw), "### "+heading+"\n")
	_, block, fenced := strings.Cut(section, "```sh\n")
	block, _, closed := strings.Cut(block, "```")
	if !found || !fenced || !closed {
		t.Fatalf("docs/%s has no sh block under %q", name, "### "+heading)
	}
	return block
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
	fmt.Fprintf(&b, "disaster-recovery drill (a real node: images loaded, containers started, the database restored from the bucket)\n")
	fmt.Fprintf(&b, "%-26s  %-37s  %-49s  %s\n", "scenario", "recovery point (newest dump at loss)", "recovery time (fresh API to Ready + rows back)", "outputs unchanged")
	for _, r := range results {
		fmt.Fprintf(&b, "%-26s  %-37s  %-49s  %s\n", r.scenario, fmt.Sprintf("%.1f s", r.point.Seconds()), fmt.Sprintf("%.1f s", r.took.Seconds()), map[bool]string{true: "yes", false: "NO"}[r.outputsKept])
	}
	return b.String()
}
