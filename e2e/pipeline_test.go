package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/examples/consumer"
	"github.com/nexios-labs/nexios-k8s/internal/localcluster"
	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
	nexios "github.com/nexios-labs/nexios-k8s/program"
)

// pipelineCluster is the pipeline test's own local cluster.
const pipelineCluster = "nexios-e2e-pipeline"

// pipeline runs the built deploy command in a copy of the project, as a CI job would.
type pipeline struct {
	t       *testing.T
	bin     string
	project string
	env     []string
	// transcript is everything every run printed, for the secrets scan.
	transcript strings.Builder
}

type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

func (p *pipeline) run(ctx context.Context, args ...string) result {
	p.t.Helper()
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Dir = p.project
	cmd.Env = p.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	p.transcript.WriteString(r.stdout + r.stderr)
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		p.t.Fatalf("deploy %v: %v", args, err)
	}
	p.t.Logf("deploy %s: exit %d in %s", strings.Join(args, " "), r.code, r.elapsed.Round(time.Millisecond))
	return r
}

func (p *pipeline) mustRun(ctx context.Context, args ...string) result {
	p.t.Helper()
	r := p.run(ctx, args...)
	if r.code != 0 {
		p.t.Fatalf("deploy %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// newPipeline builds cmd/deploy and lays out a scratch project for it (newScratchProject).
func newPipeline(ctx context.Context, t *testing.T, tc toolchain.Toolchain) *pipeline {
	t.Helper()
	p := newScratchProject(t, tc)
	p.bin = filepath.Join(t.TempDir(), "deploy")
	build := exec.CommandContext(ctx, "go", "build", "-o", p.bin, "./cmd/deploy")
	build.Dir = tc.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building cmd/deploy: %v\n%s", err, out)
	}
	return p
}

// newScratchProject lays out a scratch project, without building the command: the real Pulumi.yaml
// and stack files, the built tools through a link, and its own .state, so the developer's stacks are
// never touched.
func newScratchProject(t *testing.T, tc toolchain.Toolchain) *pipeline {
	t.Helper()
	project := t.TempDir()
	for _, name := range []string{"go.mod", "Pulumi.yaml", "Pulumi.dev.yaml"} {
		raw, err := os.ReadFile(filepath.Join(tc.Root, name))
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(project, name), raw, 0o644); err != nil {
			t.Fatalf("copying %s: %v", name, err)
		}
	}
	if err := os.Symlink(tc.BinDir(), filepath.Join(project, "bin")); err != nil {
		t.Fatalf("linking bin/: %v", err)
	}
	// A dev stack whose file has a typo next to a mistyped value: it must fail before anything is
	// created, naming both keys.
	broken := "config:\n  nexios:environment: dev\n  nexios:app:\n    image: ghcr.io/nexios-labs/nexios-app:1.0.0\n    replcas: 2\n    replicas: three\n"
	if err := os.WriteFile(filepath.Join(project, "Pulumi.broken.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatalf("writing the broken stack: %v", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "KUBECONFIG", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "NEXIOS_CLUSTER":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "NEXIOS_CLUSTER="+pipelineCluster)
	return &pipeline{t: t, project: project, env: env}
}

// pipelineTest starts an end-to-end test of the pipeline command: it skips under -short, requires the
// built tools, and returns a context that leaves a minute of the test's deadline for cleanup, the
// tools and a new pipeline.
func pipelineTest(t *testing.T) (context.Context, toolchain.Toolchain, *pipeline) {
	t.Helper()
	ctx, tc := engineTest(t)
	return ctx, tc, newPipeline(ctx, t, tc)
}

// engineTest starts an end-to-end test: it skips under -short, requires the built tools, and returns
// a context that leaves a minute of the test's deadline for cleanup, and the tools.
func engineTest(t *testing.T) (context.Context, toolchain.Toolchain) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: starts a cluster and runs the Pulumi engine; skipped under -short")
	}
	tc := requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeLeft(t))
	t.Cleanup(cancel)
	return ctx, tc
}

// onOwnCluster points the pipeline at a local cluster of the test's own, without a real node (one
// machine runs one, and TestRealNode needs it), with env added to the command's environment. A
// cluster an interrupted run left is removed first, and the cluster is removed when the test ends.
// The command starts it when it needs it; its state lives in the scratch project, where the command
// looks for it.
func (p *pipeline) onOwnCluster(ctx context.Context, name string, env ...string) localcluster.Cluster {
	p.t.Helper()
	return p.onOwnClusterWith(ctx, name, 0, env...)
}

// onOwnClusterWith is onOwnCluster with realNodes real nodes (0 or 1). Removing the cluster when the
// test ends frees the machine's one real node for the next test.
func (p *pipeline) onOwnClusterWith(ctx context.Context, name string, realNodes int, env ...string) localcluster.Cluster {
	p.t.Helper()
	realNode := "NEXIOS_REAL_NODE=off"
	if realNodes > 0 {
		realNode = "NEXIOS_REAL_NODE=on"
	}
	p.env = append(append(p.env, "NEXIOS_CLUSTER="+name, realNode), env...)
	cluster := localcluster.Cluster{Toolchain: toolchain.Toolchain{Root: p.project}, Name: name, RealNodes: realNodes, Log: testLog{p.t}}
	if err := cluster.Stop(ctx); err != nil {
		p.t.Fatalf("removing a leftover cluster: %v", err)
	}
	p.t.Cleanup(func() {
		if err := cluster.Stop(context.WithoutCancel(ctx)); err != nil {
			p.t.Errorf("stopping the cluster: %v", err)
		}
	})
	return cluster
}

// TestPipeline drives the dev stack through the pipeline command against the local cluster, the way
// `make up` and a CI job do.
func TestPipeline(t *testing.T) {
	ctx, tc, p := pipelineTest(t)
	// The command starts the cluster from the scratch project, so its state lives there too.
	cluster := localcluster.Cluster{Toolchain: toolchain.Toolchain{Root: p.project}, Name: pipelineCluster, Log: testLog{t}}
	t.Cleanup(func() {
		if err := cluster.Stop(context.WithoutCancel(ctx)); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})

	t.Run("invalid stack fails before anything is created", func(t *testing.T) {
		for _, command := range []string{"preview", "up"} {
			r := p.run(ctx, command, "broken")
			if r.code != 2 {
				t.Fatalf("%s: want exit 2, got %d:\n%s", command, r.code, r.stderr)
			}
			// Every problem at its full path, and none invented: the image is set.
			for _, want := range []string{`nexios:app.replcas: unknown key; did you mean "replicas"?`, "nexios:app.replicas: expected a whole number, got a string"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%s: stderr lacks %q:\n%s", command, want, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "app.image") {
				t.Errorf("%s: a problem with the image, which is set, was invented:\n%s", command, r.stderr)
			}
			if state, err := cluster.Status(ctx); err != nil || state != localcluster.Absent {
				t.Errorf("cluster %s after an invalid %s: %v %v, want absent (nothing touched)", pipelineCluster, command, state, err)
			}
			if traces := backendTraces(t, p.project, "broken"); len(traces) > 0 {
				t.Errorf("the backend holds the invalid stack after %s: %v", command, traces)
			}
		}
	})

	t.Run("a stack the local cluster cannot complete is refused before anything starts", func(t *testing.T) {
		// An Ingress never gets an address without an ingress controller: the provider would wait ten
		// minutes for it.
		stack := "config:\n  nexios:environment: dev\n  nexios:app:\n    image: " + exampleAppImage +
			"\n    ingress:\n      enabled: true\n      host: nexios.example.com\n"
		if err := os.WriteFile(filepath.Join(p.project, "Pulumi.ingress.yaml"), []byte(stack), 0o644); err != nil {
			t.Fatalf("writing the stack: %v", err)
		}
		r := p.run(ctx, "up", "ingress")
		if r.code != 2 || r.elapsed > time.Minute {
			t.Fatalf("up: exit %d after %s, want 2 at once:\n%s", r.code, r.elapsed, r.stderr)
		}
		for _, want := range []string{"cannot be deployed to the local cluster", "nothing was changed", "app.ingress (host nexios.example.com", "pulumi config set --path 'nexios:app.ingress.enabled' false -s ingress"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if state, err := cluster.Status(ctx); err != nil || state != localcluster.Absent {
			t.Errorf("cluster %s after a refused up: %v %v, want absent", pipelineCluster, state, err)
		}
		// The preview still runs (it waits for nothing) and names what up would refuse.
		r = p.run(ctx, "preview", "ingress")
		if r.code != 0 || !strings.Contains(r.stderr, "app.ingress (host nexios.example.com") {
			t.Errorf("preview: exit %d, want 0 with the note:\n%s", r.code, r.stderr)
		}
	})

	up := p.mustRun(ctx, "up", "dev")
	if !strings.Contains(up.stdout, "Outputs of stack dev:") || !strings.Contains(up.stdout, "nexios-dev") {
		t.Errorf("up does not end with the outputs:\n%s", up.stdout)
	}
	kubeconfig, err := cluster.Kubeconfig(ctx)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	api := newAPIClient(t, kubeconfig)

	t.Run("a first up is one run of the engine", func(t *testing.T) {
		if !strings.Contains(up.stdout, "stack dev holds no resources yet: no refresh, and a plan of creates only has no risk to gate") {
			t.Errorf("the first up does not say it skips the refresh and the plan:\n%s", up.stdout)
		}
		var kinds []string
		for _, u := range stackHistory(ctx, t, tc, p) {
			kinds = append(kinds, u.Kind+" "+u.Result)
		}
		if !slices.Equal(kinds, []string{"update succeeded"}) {
			t.Errorf("the stack's history after its first up: %q, want one successful update", kinds)
		}
	})

	t.Run("up says which workloads ran for real", func(t *testing.T) {
		where := "simulated"
		if os.Getenv("NEXIOS_REAL_NODE") != "off" && cluster.RealNodeSupport(ctx) == nil {
			// The default, auto, gives a new local cluster a real node wherever one can run; off (which
			// the command reads from the same environment) gives it none.
			where = "real"
		}
		var appLine string
		for line := range strings.Lines(up.stdout) {
			if strings.Contains(line, "nexios-dev/") {
				appLine = line
			}
		}
		if !strings.Contains(up.stdout, "workloads on cluster") || !strings.Contains(appLine, "1/1 ready  1 "+where) {
			t.Errorf("up's workload table lacks the app as %s (line %q):\n%s", where, appLine, up.stdout)
		}
	})

	outputs := map[string]any{}
	t.Run("outputs --json holds the documented exports", func(t *testing.T) {
		r := p.mustRun(ctx, "outputs", "dev", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &outputs); err != nil {
			t.Fatalf("outputs --json is not JSON: %v\n%s", err, r.stdout)
		}
		var keys []string
		for k := range outputs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		want := slices.Clone(nexios.Exports)
		sort.Strings(want)
		if !slices.Equal(keys, want) {
			t.Errorf("exports %v, want %v", keys, want)
		}
		if outputs["namespace"] != "nexios-dev" || outputs["environment"] != "dev" {
			t.Errorf("outputs %v", outputs)
		}
	})

	t.Run("the app is running in the cluster", func(t *testing.T) {
		name, _ := outputs["deploymentName"].(string)
		var deployment struct {
			Status struct {
				ReadyReplicas int `json:"readyReplicas"`
			} `json:"status"`
		}
		if code := api.get(t, "/apis/apps/v1/namespaces/nexios-dev/deployments/"+name, &deployment); code != http.StatusOK {
			t.Fatalf("GET deployment %s: HTTP %d", name, code)
		}
		if deployment.Status.ReadyReplicas != 1 {
			t.Errorf("ready replicas = %d, want 1", deployment.Status.ReadyReplicas)
		}
	})

	t.Run("the dev stack's PostgreSQL runs and the app's DATABASE_URL points at it", func(t *testing.T) {
		devDatabaseRuns(ctx, t, p, api, outputs)
	})
	t.Run("postgres backups make a CronJob, and removing them is destructive", func(t *testing.T) {
		backupsMakeTheCronJob(ctx, t, p, api)
	})

	var secretKeys []string // every app secret key the stack has had, for the final scan
	t.Run("secret values stay out of the outputs", func(t *testing.T) {
		secretKey := generatedSecretKey(ctx, t, tc, p)
		secretKeys = append(secretKeys, secretKey)
		for _, args := range [][]string{{"outputs", "dev"}, {"outputs", "dev", "--json"}, {"outputs", "dev", "--show-secrets"}} {
			if r := p.mustRun(ctx, args...); strings.Contains(r.stdout+r.stderr, secretKey) {
				t.Errorf("deploy %v prints the app's secret key", args)
			}
		}
	})

	// Before the no-change preview, which then also shows that rendering left the real stack alone.
	t.Run("render writes the stack's manifests with Secret values blanked", func(t *testing.T) {
		blanked, full := t.TempDir(), t.TempDir()
		r := p.mustRun(ctx, "render", "dev", "--out", blanked)
		if !strings.Contains(r.stdout, "secret values blanked") {
			t.Errorf("render does not say the values were blanked:\n%s", r.stdout)
		}
		p.mustRun(ctx, "render", "dev", "--out", full, "--include-secrets")
		blankedDocs, fullDocs := renderedDocs(t, blanked), renderedDocs(t, full)
		kinds := map[string]int{}
		for file, doc := range blankedDocs {
			kind, _ := doc["kind"].(string)
			kinds[kind]++
			if kind != "Secret" {
				continue
			}
			if len(secretValues(doc)) == 0 {
				t.Errorf("%s: a Secret with no keys", file)
			}
			for key, v := range secretValues(doc) {
				if v != "" {
					t.Errorf("%s: key %s keeps a value", file, key)
				}
			}
			for key, v := range secretValues(fullDocs[file]) {
				if v == "" {
					t.Errorf("%s with --include-secrets: key %s is empty, so blanking proves nothing", file, key)
				}
			}
		}
		for _, kind := range []string{"Namespace", "Deployment", "Service", "Secret", "ConfigMap", "NetworkPolicy", "StatefulSet"} {
			if kinds[kind] == 0 {
				t.Errorf("no %s rendered (kinds: %v)", kind, kinds)
			}
		}
	})

	t.Run("preview --expect-no-changes after up", func(t *testing.T) {
		r := p.run(ctx, "preview", "dev", "--expect-no-changes", "--json")
		if r.code != 0 {
			t.Fatalf("exit %d, want 0 (no drift):\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		var summary struct {
			Changed int `json:"changed"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &summary); err != nil || summary.Changed != 0 {
			t.Errorf("summary %q (%v), want 0 changes", r.stdout, err)
		}
	})

	t.Run("every preview checks the policies", func(t *testing.T) {
		// After up every resource takes a "same" step: the policies still see all of them.
		report := filepath.Join(t.TempDir(), "policy.sarif")
		r := p.run(ctx, "preview", "dev", "--policy-report", report)
		if r.code != 0 {
			t.Fatalf("preview dev: exit %d, want 0:\n%s", r.code, r.stderr)
		}
		var checked, errs, warnings int
		_, line, _ := strings.Cut(r.stderr, "policies: ")
		line = "policies: " + line
		if _, err := fmt.Sscanf(line, "policies: 7 checked over %d resources of stack dev: %d errors, %d warnings", &checked, &errs, &warnings); err != nil || checked < 40 || errs != 0 || warnings != 0 {
			t.Errorf("policy totals %q (%v): want the whole stack (40 resources or more) and no finding", line, err)
		}
		t.Log(strings.TrimSpace(strings.SplitN(line, "\n", 2)[0]))
		if results := sarifResults(t, report); len(results) != 0 {
			t.Errorf("the committed dev stack has findings: %+v", results)
		}

		// A new dev stack (every step a create) with two replicas and no disruption budget, on the
		// moving latest tag: the budget is an error, exit 4, naming the resource and the fix; the tag
		// in dev a warning.
		// (Monitoring off: the dev stack holds its namespace.)
		stack := "config:\n  nexios:environment: dev\n  nexios:app:\n    image: ghcr.io/nexios-labs/nexios-example-app:latest\n    replicas: 2\n  nexios:monitoring:\n    enabled: false\n"
		if err := os.WriteFile(filepath.Join(p.project, "Pulumi.policy.yaml"), []byte(stack), 0o644); err != nil {
			t.Fatalf("writing the stack: %v", err)
		}
		r = p.run(ctx, "preview", "policy", "--policy-report", report)
		if r.code != 4 {
			t.Fatalf("preview policy: exit %d, want 4:\n%s", r.code, r.stderr)
		}
		for _, want := range []string{
			"policy error [disruption-budget]: Deployment nexios-deployment: 2 replicas (spec.replicas) and no PodDisruptionBudget selects its pods in namespace nexios-policy; add one (for the app, nexios:app.disruptionBudget.enabled: true)",
			`policy warning [image-pinned]: Deployment nexios-deployment: container app's image "ghcr.io/nexios-labs/nexios-example-app:latest" uses the moving ` + "`latest`" + ` tag`,
			"1 error, 1 warning",
			"deploy: stack policy breaks 1 error-severity policy",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		// Results come by policy, in the order of the report's rules: the tag's before the budget's.
		results := sarifResults(t, report)
		var got []string
		for _, res := range results {
			got = append(got, res.RuleID+" "+res.Level+" "+res.Locations[0].LogicalLocations[0].FullyQualifiedName)
		}
		deployment := " urn:pulumi:policy::nexios::nexios:components:App$kubernetes:apps/v1:Deployment::nexios-deployment"
		if want := []string{"image-pinned warning" + deployment, "disruption-budget error" + deployment}; !slices.Equal(got, want) {
			t.Errorf("report results %q, want %q", got, want)
		}

		// Deployed as it is, each resource's preview step is a "same" one, which carries the inputs
		// too: the tag's warning is still found, and a warning passes. (Monitoring off: the dev stack
		// holds its namespace.)
		stack = "config:\n  nexios:environment: dev\n  nexios:app:\n    image: ghcr.io/nexios-labs/nexios-example-app:latest\n  nexios:monitoring:\n    enabled: false\n"
		if err := os.WriteFile(filepath.Join(p.project, "Pulumi.policy.yaml"), []byte(stack), 0o644); err != nil {
			t.Fatalf("writing the stack: %v", err)
		}
		p.mustRun(ctx, "up", "policy")
		defer p.mustRun(ctx, "destroy", "policy")
		r = p.run(ctx, "preview", "policy", "--expect-no-changes")
		if r.code != 0 || !strings.Contains(r.stderr, "policy warning [image-pinned]: Deployment nexios-deployment") || !strings.Contains(r.stderr, "0 errors, 1 warning") {
			t.Errorf("preview of the deployed stack: exit %d, want 0 with the tag's warning:\n%s", r.code, r.stderr)
		}
	})

	t.Run("backup, a lost state and restore", func(t *testing.T) { backupAndRestore(ctx, t, tc, p) })

	// A run holds the stack's lock for only a few seconds when nothing changes, less than a second
	// command needs to start, so racing two real runs would test the scheduler. Instead a real run's
	// lock file is kept and put back, exactly what a concurrent run (or an interrupted one) leaves.
	t.Run("a locked stack fails fast with a clear message and cancel clears it", func(t *testing.T) {
		// A refresh holds the lock for its whole run (an up with nothing to change takes none).
		first := make(chan result, 1)
		go func() { first <- p.run(ctx, "refresh", "dev") }()
		lockPath, lock := waitForLock(ctx, t, p.project)
		if r := <-first; r.code != 0 {
			t.Fatalf("the refresh failed: %d\n%s", r.code, r.stderr)
		}
		if err := os.WriteFile(lockPath, lock, 0o644); err != nil {
			t.Fatalf("restoring the lock: %v", err)
		}
		second := p.run(ctx, "up", "dev")
		if second.code != 1 || !strings.Contains(second.stderr, "locked by another run") || !strings.Contains(second.stderr, "deploy cancel dev") {
			t.Errorf("up on a locked stack: exit %d, stderr:\n%s", second.code, second.stderr)
		}
		if second.elapsed > time.Minute {
			t.Errorf("up on a locked stack took %s to fail", second.elapsed)
		}
		p.mustRun(ctx, "cancel", "dev")
		if r := p.run(ctx, "preview", "dev", "--expect-no-changes"); r.code != 0 {
			t.Errorf("preview after cancel: exit %d\n%s", r.code, r.stderr)
		}
	})

	t.Run("another team reads the exports through a StackReference", func(t *testing.T) {
		readExports(ctx, t, tc, p, outputs)
	})

	// The dev stack file stays changed after this one (another LOG_LEVEL, the secret key rotated).
	t.Run("preview shows each change with its values and risk, a secret's without values", func(t *testing.T) {
		previewShowsChanges(ctx, t, tc, p)
	})
	t.Run("up refuses a data-loss plan without --allow-destructive", func(t *testing.T) {
		upRefusesDataLoss(ctx, t, p, api)
	})
	t.Run("drift reports what changed behind the program's back and up repairs it", func(t *testing.T) {
		driftIsReportedAndRepaired(ctx, t, p, api)
	})

	// Last before destroy: the stack file is put back, but the app stays in the other namespace.
	t.Run("up --allow-destructive takes the plan it refused", func(t *testing.T) {
		upTakesAllowedDataLoss(ctx, t, p, api)
	})

	t.Run("no secret value in the state files or in anything the command printed", func(t *testing.T) {
		secretKeys = append(secretKeys, generatedSecretKey(ctx, t, tc, p))
		state := stateFiles(t, p.project)
		for _, key := range secretKeys {
			for _, form := range []string{key, base64.StdEncoding.EncodeToString([]byte(key))} {
				if strings.Contains(p.transcript.String(), form) {
					t.Errorf("a command printed an app secret key (%d characters) in plain or base64 form", len(form))
				}
				for name, content := range state {
					if strings.Contains(content, form) {
						t.Errorf("the state file %s holds an app secret key unencrypted", name)
					}
				}
			}
		}
		if len(state) == 0 || p.transcript.Len() == 0 {
			t.Errorf("nothing to scan: %d state files, %d bytes printed", len(state), p.transcript.Len())
		}
	})

	t.Run("destroy leaves the namespace gone", func(t *testing.T) {
		namespace := currentOutputs(ctx, t, p)["namespace"]
		p.mustRun(ctx, "destroy", "dev")
		deadline := time.Now().Add(2 * time.Minute)
		for {
			code := api.get(t, "/api/v1/namespaces/"+namespace, nil)
			if code == http.StatusNotFound {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("namespace %s still answers HTTP %d after destroy", namespace, code)
			}
			time.Sleep(time.Second)
		}
	})
}

// waitForLock returns the path and content of the first lock file a run writes into the scratch
// project's file backend.
func waitForLock(ctx context.Context, t *testing.T, project string) (string, []byte) {
	t.Helper()
	locks := filepath.Join(project, ".state", ".pulumi", "locks")
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var path string
		_ = filepath.WalkDir(locks, func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && path == "" {
				path = p
			}
			return nil
		})
		if path != "" {
			if content, err := os.ReadFile(path); err == nil && len(content) > 0 {
				return path, content
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no lock appeared under %s", locks)
	return "", nil
}

// backendTraces lists what the scratch project's file backend holds of a stack: its checkpoint, backups
// and history are all files or folders named after it. An absent backend holds nothing.
// stateFiles reads every file of the scratch project's backend, by path.
func stateFiles(t *testing.T, project string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(filepath.Join(project, ".state"), func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		files[path] = string(raw)
		return err
	})
	if err != nil {
		t.Fatalf("reading the backend: %v", err)
	}
	return files
}

func backendTraces(t *testing.T, project, stack string) []string {
	t.Helper()
	var traces []string
	err := filepath.WalkDir(filepath.Join(project, ".state"), func(path string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if name := e.Name(); name == stack || strings.HasPrefix(name, stack+".") || strings.HasPrefix(name, stack+"-") {
			traces = append(traces, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading the backend: %v", err)
	}
	return traces
}

// pulumiCLI runs the built Pulumi CLI in the scratch project, with env (the scratch backend's when
// nil) and stdin (none when nil), and returns its stdout.
func pulumiCLI(ctx context.Context, t *testing.T, tc toolchain.Toolchain, p *pipeline, env map[string]string, stdin io.Reader, args ...string) []byte {
	t.Helper()
	if env == nil {
		env = scratchEnv(tc, p)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(tc.BinDir(), "pulumi"), args...)
	cmd.Dir = p.project
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = stdin
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if exit := (*exec.ExitError)(nil); errors.As(err, &exit) {
			stderr = exit.Stderr
		}
		// Only the command and its first argument: a later one may be a secret value.
		t.Fatalf("pulumi %s: %v\n%s", strings.Join(args[:min(2, len(args))], " "), err, stderr)
	}
	return out
}

// scratchEnv is the environment of Pulumi runs against the scratch project's backend, with the
// passphrase the command runs with: empty (the dev stack's), or a stack's own set by onOwnCluster.
func scratchEnv(tc toolchain.Toolchain, p *pipeline) map[string]string {
	env := tc.PulumiEnv()
	env["PULUMI_BACKEND_URL"] = "file://" + filepath.Join(p.project, ".state")
	env["PULUMI_CONFIG_PASSPHRASE"] = ""
	for _, kv := range p.env {
		if v, ok := strings.CutPrefix(kv, "PULUMI_CONFIG_PASSPHRASE="); ok {
			env["PULUMI_CONFIG_PASSPHRASE"] = v
		}
	}
	return env
}

// generatedSecretKey reads the app's generated SECRET_KEY from the dev stack's state.
func generatedSecretKey(ctx context.Context, t *testing.T, tc toolchain.Toolchain, p *pipeline) string {
	t.Helper()
	for urn, key := range generatedSecrets(ctx, t, tc, p, "dev") {
		if strings.HasSuffix(urn, "app-secret-key") && len(key) == 64 {
			return key
		}
	}
	t.Fatal("no generated app secret key in the state")
	return ""
}

// generatedSecrets reads every password the stack generated (its RandomPassword results) from its
// state, by URN.
func generatedSecrets(ctx context.Context, t *testing.T, tc toolchain.Toolchain, p *pipeline, stack string) map[string]string {
	t.Helper()
	out := pulumiCLI(ctx, t, tc, p, nil, nil, "stack", "export", "--show-secrets", "--stack", stack)
	var state struct {
		Deployment struct {
			Resources []struct {
				Type    string         `json:"type"`
				URN     string         `json:"urn"`
				Outputs map[string]any `json:"outputs"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal(out, &state); err != nil {
		t.Fatalf("parsing the state: %v", err)
	}
	secrets := map[string]string{}
	for _, r := range state.Deployment.Resources {
		if r.Type != "random:index/randomPassword:RandomPassword" {
			continue
		}
		// --show-secrets keeps the secret envelope and puts the JSON-encoded value in "plaintext".
		envelope, _ := r.Outputs["result"].(map[string]any)
		plaintext, _ := envelope["plaintext"].(string)
		var value string
		if err := json.Unmarshal([]byte(plaintext), &value); err == nil && value != "" {
			secrets[r.URN] = value
		}
	}
	return secrets
}

// readExports runs the example consumer program in the same backend and checks what it read.
func readExports(ctx context.Context, t *testing.T, tc toolchain.Toolchain, p *pipeline, producer map[string]any) {
	t.Helper()
	workDir := t.TempDir()
	project := "name: nexios-consumer\nruntime: go\n"
	if err := os.WriteFile(filepath.Join(workDir, "Pulumi.yaml"), []byte(project), 0o644); err != nil {
		t.Fatal(err)
	}
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: tc.Root})
	if err != nil {
		t.Fatalf("pulumi CLI: %v", err)
	}
	stack, err := auto.UpsertStackLocalSource(ctx, "dev", workDir,
		auto.Program(consumer.Run), auto.Pulumi(cli), auto.EnvVars(scratchEnv(tc, p)), auto.SecretsProvider("passphrase"))
	if err != nil {
		t.Fatalf("consumer stack: %v", err)
	}
	res, err := stack.Up(ctx)
	if err != nil {
		t.Fatalf("consumer up: %v", err)
	}
	for out, export := range map[string]string{"upstreamUrl": "internalUrl", "upstreamNamespace": "namespace", "upstreamService": "serviceName"} {
		if got, want := res.Outputs[out].Value, producer[export]; got != want || want == nil {
			t.Errorf("consumer %s = %v, want the producer's %s %v", out, got, export, want)
		}
	}
	if _, err := stack.Destroy(ctx); err != nil {
		t.Errorf("consumer destroy: %v", err)
	}
}

// apiClient talks to the cluster's API with the kubeconfig's credentials: enough to check what the
// engine reports, without a kubectl on the machine.
type apiClient struct {
	server string
	http   *http.Client
}

func newAPIClient(t *testing.T, kubeconfig string) apiClient {
	t.Helper()
	raw, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatalf("reading kubeconfig: %v", err)
	}
	var kc struct {
		CurrentContext string `yaml:"current-context"`
		Contexts       []struct {
			Name    string `yaml:"name"`
			Context struct {
				Cluster, User string
			} `yaml:"context"`
		} `yaml:"contexts"`
		Clusters []struct {
			Name    string `yaml:"name"`
			Cluster struct {
				Server   string `yaml:"server"`
				CA       string `yaml:"certificate-authority"`
				CAData   string `yaml:"certificate-authority-data"`
				Insecure bool   `yaml:"insecure-skip-tls-verify"`
			} `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			Name string `yaml:"name"`
			User struct {
				Cert     string `yaml:"client-certificate"`
				CertData string `yaml:"client-certificate-data"`
				Key      string `yaml:"client-key"`
				KeyData  string `yaml:"client-key-data"`
				Token    string `yaml:"token"`
			} `yaml:"user"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal(raw, &kc); err != nil {
		t.Fatalf("parsing kubeconfig: %v", err)
	}
	read := func(path, data string) []byte {
		if data != "" {
			b, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				t.Fatalf("kubeconfig data: %v", err)
			}
			return b
		}
		if path == "" {
			return nil
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(kubeconfig), path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("kubeconfig file: %v", err)
		}
		return b
	}
	var clusterName, userName string
	for _, c := range kc.Contexts {
		if c.Name == kc.CurrentContext {
			clusterName, userName = c.Context.Cluster, c.Context.User
		}
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	client := apiClient{}
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		client.server = c.Cluster.Server
		tlsConfig.InsecureSkipVerify = c.Cluster.Insecure
		if ca := read(c.Cluster.CA, c.Cluster.CAData); ca != nil {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(ca)
			tlsConfig.RootCAs = pool
		}
	}
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		if cert, key := read(u.User.Cert, u.User.CertData), read(u.User.Key, u.User.KeyData); cert != nil {
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				t.Fatalf("client certificate: %v", err)
			}
			tlsConfig.Certificates = []tls.Certificate{pair}
		}
	}
	if client.server == "" {
		t.Fatalf("kubeconfig %s has no server for context %q", kubeconfig, kc.CurrentContext)
	}
	client.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	return client
}

// get fetches path into into (when not nil) and returns the HTTP status.
func (c apiClient) get(t *testing.T, path string, into any) int {
	t.Helper()
	resp, err := c.http.Get(c.server + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if into != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("decoding %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// renderedDocs parses every manifest a render wrote under dir, by path relative to dir.
func renderedDocs(t *testing.T, dir string) map[string]map[string]any {
	t.Helper()
	docs := map[string]map[string]any{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, _ := filepath.Rel(dir, path)
		docs[rel] = doc
		return nil
	})
	if err != nil {
		t.Fatalf("reading the render in %s: %v", dir, err)
	}
	if len(docs) == 0 {
		t.Fatalf("render wrote no manifests in %s", dir)
	}
	return docs
}

// secretValues returns a Secret's data and stringData values by key.
func secretValues(doc map[string]any) map[string]string {
	values := map[string]string{}
	for _, field := range []string{"data", "stringData"} {
		m, _ := doc[field].(map[string]any)
		for key, v := range m {
			values[key], _ = v.(string)
		}
	}
	return values
}

// sarifResult is what the pipeline test reads of a SARIF result; internal/policy's tests check the
// whole shape.
type sarifResult struct {
	RuleID    string `json:"ruleId"`
	Level     string `json:"level"`
	Locations []struct {
		LogicalLocations []struct {
			FullyQualifiedName string `json:"fullyQualifiedName"`
		} `json:"logicalLocations"`
	} `json:"locations"`
}

// sarifResults reads a SARIF 2.1.0 report of one run and returns its results.
func sarifResults(t *testing.T, path string) []sarifResult {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the policy report: %v", err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string            `json:"name"`
					Rules []json.RawMessage `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []sarifResult `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(raw, &log); err != nil || log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name == "" || len(log.Runs[0].Tool.Driver.Rules) != 7 {
		t.Fatalf("policy report (%v): want SARIF 2.1.0, one run, a named driver with 7 rules:\n%s", err, raw)
	}
	for _, r := range log.Runs[0].Results {
		if len(r.Locations) == 0 || len(r.Locations[0].LogicalLocations) == 0 {
			t.Fatalf("a result without a logical location: %s", raw)
		}
	}
	return log.Runs[0].Results
}
