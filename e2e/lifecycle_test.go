package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// lifecycleSteps are the rows of the lifecycle summary, in the order they run.
var lifecycleSteps = []string{
	"up from empty",
	"second up changes nothing",
	"preview --expect-no-changes",
	"refresh --expect-no-changes",
	"drift behind the program's back is reported, and repaired by up",
	"up of a release never Ready fails by its deadline",
	"up of the previous release restores it",
	"destroy leaves nothing",
}

// brokenDeadline is the broken release's app.rollout.progressDeadlineSeconds, and brokenMargin what its
// failing up may take beyond it: the engine's start, the program, and the half minute the provider
// waits past the deadline (components/app's rolloutWait). Together far below the default deadline
// (600 s) and the provider's own wait (ten minutes), so an up that waited for either fails the step.
const (
	brokenDeadline = 30 * time.Second
	brokenMargin   = 2 * time.Minute
)

// stepResult is one cell of the lifecycle summary.
type stepResult struct {
	ok      bool
	elapsed time.Duration
}

// TestLifecycle drives the dev stack and a prod-profile stack each through the whole lifecycle with the
// built command, on a local cluster of its own: up from empty, a second up that changes nothing,
// preview and refresh with --expect-no-changes, a release whose pods are never Ready (up fails by the
// rollout's progress deadline, naming the Deployment and why) then the previous release (up restores
// it), and destroy, after which nothing carrying the stack's label is left in any API kind and its
// state holds no resource. It ends with a Markdown table of every step's result and time per profile.
func TestLifecycle(t *testing.T) {
	profiles := []struct {
		name    string
		stack   string
		cluster string
		// setUp writes the stack's file into the scratch project and returns the command's extra
		// environment and destroy's extra arguments.
		setUp func(ctx context.Context, t *testing.T, tc toolchain.Toolchain, p *pipeline) (env, destroyArgs []string)
	}{
		{"dev", "dev", "nexios-e2e-lifecycle-dev", func(context.Context, *testing.T, toolchain.Toolchain, *pipeline) ([]string, []string) {
			// The committed Pulumi.dev.yaml, which newPipeline copied, with its empty passphrase.
			return nil, nil
		}},
		{"prod", "prod", "nexios-e2e-lifecycle-prod", setUpLocalProd},
	}
	results := map[string]map[string]stepResult{}
	for _, profile := range profiles {
		results[profile.name] = map[string]stepResult{}
		t.Run(profile.name, func(t *testing.T) {
			ctx, tc, p := pipelineTest(t)
			env, destroyArgs := profile.setUp(ctx, t, tc, p)
			// No real node (onOwnCluster turns it off): kwok marks a scheduled pod Ready at once, so
			// the times measure the engine and the program, not image pulls, and the broken release's
			// pods fail by scheduling alone.
			cluster := p.onOwnCluster(ctx, profile.cluster, env...)
			lc := &lifecycle{ctx: ctx, tc: tc, p: p, stack: profile.stack, cluster: profile.cluster, results: results[profile.name]}
			lc.run(t, cluster.Kubeconfig, destroyArgs)
		})
	}

	table := lifecycleTable([]string{"dev", "prod"}, results)
	t.Log("\n" + table)
	fmt.Println(table)
}

// setUpLocalProd writes the prod profile as TestProdProfile deploys it locally (localProdConfig) and
// sets its database URL as a secret under a passphrase of its own.
func setUpLocalProd(ctx context.Context, t *testing.T, tc toolchain.Toolchain, p *pipeline) ([]string, []string) {
	t.Helper()
	const passphrase = "nexios-e2e-lifecycle"
	raw, err := yaml.Marshal(map[string]any{"config": localProdConfig(t, tc)})
	if err != nil {
		t.Fatalf("rendering the prod stack file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(p.project, "Pulumi.prod.yaml"), raw, 0o644); err != nil {
		t.Fatalf("writing the prod stack file: %v", err)
	}
	// The backend's folder, which deploy would create on its first run.
	if err := os.MkdirAll(filepath.Join(p.project, ".state"), 0o755); err != nil {
		t.Fatalf("creating the backend: %v", err)
	}
	env := scratchEnv(tc, p)
	env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
	for _, args := range [][]string{
		{"stack", "init", "prod", "--secrets-provider", "passphrase"},
		{"config", "set", "--secret", "nexios:databaseUrl", localDatabaseURL, "--stack", "prod"},
	} {
		pulumiCLI(ctx, t, tc, p, env, nil, args...)
	}
	return []string{"PULUMI_CONFIG_PASSPHRASE=" + passphrase}, []string{"--confirm", "prod"}
}

// lifecycle is one profile's run through lifecycleSteps.
type lifecycle struct {
	ctx     context.Context
	tc      toolchain.Toolchain
	p       *pipeline
	stack   string
	cluster string
	results map[string]stepResult
}

// step runs one step as a subtest, timed, and records its result; it reports whether it passed. The
// pipeline reports to the step's test while it runs, so a failed command fails the step.
func (lc *lifecycle) step(t *testing.T, name string, body func(t *testing.T)) bool {
	t.Helper()
	start := time.Now()
	ok := t.Run(name, func(t *testing.T) {
		parent := lc.p.t
		lc.p.t = t
		defer func() { lc.p.t = parent }()
		body(t)
	})
	lc.results[name] = stepResult{ok: ok, elapsed: time.Since(start)}
	return ok
}

// run takes the stack through every step; a failed step ends the run, since each builds on the last.
func (lc *lifecycle) run(t *testing.T, kubeconfigOf func(context.Context) (string, error), destroyArgs []string) {
	ctx, p, stack := lc.ctx, lc.p, lc.stack
	stackFile := filepath.Join(p.project, "Pulumi."+stack+".yaml")
	previous, err := os.ReadFile(stackFile)
	if err != nil {
		t.Fatalf("reading the stack file: %v", err)
	}
	var outputs struct {
		Namespace      string `json:"namespace"`
		DeploymentName string `json:"deploymentName"`
	}
	var api apiClient
	var kubeconfig string

	steps := []func(t *testing.T){
		func(t *testing.T) {
			p.mustRun(ctx, "up", stack)
			if kubeconfig, err = kubeconfigOf(ctx); err != nil {
				t.Fatalf("kubeconfig: %v", err)
			}
			api = newAPIClient(t, kubeconfig)
			r := p.mustRun(ctx, "outputs", stack, "--json")
			if err := json.Unmarshal([]byte(r.stdout), &outputs); err != nil || outputs.Namespace == "" || outputs.DeploymentName == "" {
				t.Fatalf("outputs --json (%v): want the namespace and the Deployment's name:\n%s", err, r.stdout)
			}
		},
		func(t *testing.T) {
			r := p.mustRun(ctx, "up", stack)
			if tally := resourceTally(r.stdout); !regexp.MustCompile(`^\d+ unchanged$`).MatchString(tally) {
				t.Errorf("the second up's Resources tally is %q, want only unchanged ones:\n%s", tally, r.stdout)
			}
		},
		func(t *testing.T) { expectNoChanges(ctx, t, p, "preview", stack) },
		func(t *testing.T) { expectNoChanges(ctx, t, p, "refresh", stack) },
		func(t *testing.T) { lc.driftRepaired(t, api, outputs.Namespace) },
		func(t *testing.T) {
			lc.brokenRelease(t, stackFile, previous, api, outputs.Namespace, outputs.DeploymentName)
		},
		func(t *testing.T) {
			if err := os.WriteFile(stackFile, previous, 0o644); err != nil {
				t.Fatalf("restoring the stack file: %v", err)
			}
			p.mustRun(ctx, "up", stack)
			lc.requireRolledOut(t, api, outputs.Namespace, outputs.DeploymentName)
		},
		func(t *testing.T) { lc.destroy(t, kubeconfig, destroyArgs) },
	}
	for i, body := range steps {
		if !lc.step(t, lifecycleSteps[i], body) {
			return
		}
	}
}

// driftRepaired edits the app's ConfigMap behind the program's back (its first key's value): drift
// reports it with exit 5, up puts the value back, and drift then finds nothing.
func (lc *lifecycle) driftRepaired(t *testing.T, api apiClient, namespace string) {
	ctx, p, stack := lc.ctx, lc.p, lc.stack
	configMap := currentOutputsOf(ctx, t, p, stack)["configMapName"]
	path := "/api/v1/namespaces/" + namespace + "/configmaps/" + configMap
	var live struct {
		Data map[string]string `json:"data"`
	}
	if code := api.get(t, path, &live); code != http.StatusOK || len(live.Data) == 0 {
		t.Fatalf("GET ConfigMap %s: HTTP %d, data %v", configMap, code, live.Data)
	}
	key := slices.Sorted(maps.Keys(live.Data))[0]
	want := live.Data[key]
	api.must(t, http.MethodPatch, path, fmt.Sprintf(`{"data":{%q:"drifted"}}`, key))
	r := p.run(ctx, "drift", stack, "--json")
	if r.code != 5 || !strings.Contains(r.stdout, "kubernetes:core/v1:ConfigMap") || !strings.Contains(r.stdout, "drifted") {
		t.Fatalf("drift after editing %s of ConfigMap %s: exit %d, want 5 naming it\nstdout:\n%s\nstderr:\n%s", key, configMap, r.code, r.stdout, r.stderr)
	}
	p.mustRun(ctx, "up", stack)
	// Repairing a ConfigMap's data replaces it (it is auto-named), so the value is read under the name
	// the stack now exports.
	configMap = currentOutputsOf(ctx, t, p, stack)["configMapName"]
	path = "/api/v1/namespaces/" + namespace + "/configmaps/" + configMap
	live.Data = nil
	if code := api.get(t, path, &live); code != http.StatusOK || live.Data[key] != want {
		t.Errorf("after up, %s of ConfigMap %s is %q (HTTP %d), want %q put back", key, configMap, live.Data[key], code, want)
	}
	if r := p.run(ctx, "drift", stack); r.code != 0 {
		t.Errorf("drift after up: exit %d, want 0\nstdout:\n%s", r.code, r.stdout)
	}
}

// resourceTally is the Pulumi progress's closing "Resources:" block of an up, its lines joined by
// "; ", e.g. "~ 1 updated; 46 unchanged".
func resourceTally(stdout string) string {
	_, block, ok := strings.Cut(stdout, "\nResources:\n")
	if !ok {
		return ""
	}
	var lines []string
	for line := range strings.Lines(block) {
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "; ")
}

// expectNoChanges runs a preview or refresh with --expect-no-changes: exit 0, and a summary of 0
// changes.
func expectNoChanges(ctx context.Context, t *testing.T, p *pipeline, command, stack string) {
	t.Helper()
	r := p.run(ctx, command, stack, "--expect-no-changes")
	if r.code != 0 {
		t.Fatalf("%s --expect-no-changes: exit %d, want 0 (no drift):\n%s\n%s", command, r.code, r.stdout, r.stderr)
	}
	if want := "stack " + stack + ": 0 to change"; !strings.Contains(r.stdout, want) {
		t.Errorf("%s: stdout lacks %q:\n%s", command, want, r.stdout)
	}
}

// brokenRelease deploys a release whose new pods can never be scheduled, so never become Ready: a CPU
// request above every node's 4 CPU (and the quota raised to admit it, where the profile has one), with
// the rollout's progress deadline lowered. Up must fail by that deadline plus brokenMargin, naming the
// Deployment and why, and leave the old pods serving (maxUnavailable is always 0).
func (lc *lifecycle) brokenRelease(t *testing.T, stackFile string, previous []byte, api apiClient, namespace, deployment string) {
	var file map[string]any
	if err := yaml.Unmarshal(previous, &file); err != nil {
		t.Fatalf("parsing the stack file: %v", err)
	}
	config, _ := file["config"].(map[string]any)
	app, _ := config["nexios:app"].(map[string]any)
	if app == nil {
		t.Fatalf("the stack file has no nexios:app: %v", config)
	}
	app["resources"] = map[string]any{"requests": map[string]any{"cpu": "5"}, "limits": map[string]any{"cpu": "5"}}
	app["rollout"] = map[string]any{"progressDeadlineSeconds": int(brokenDeadline.Seconds())}
	profile := lc.profileDefaults(t)
	if profile.App.Quota.Enabled {
		// 13 pods (10 at most, and a surge of 3) of 5 CPU.
		app["quota"] = map[string]any{"requestsCpu": "100", "limitsCpu": "100"}
	}
	raw, err := yaml.Marshal(file)
	if err != nil {
		t.Fatalf("rendering the broken stack file: %v", err)
	}
	if err := os.WriteFile(stackFile, raw, 0o644); err != nil {
		t.Fatalf("writing the broken stack file: %v", err)
	}
	r := lc.p.run(lc.ctx, "up", lc.stack)
	if r.code != 1 {
		t.Fatalf("up of the broken release: exit %d, want 1:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if limit := brokenDeadline + brokenMargin; r.elapsed > limit {
		t.Errorf("up of the broken release failed after %s, want within %s (deadline %s)", r.elapsed.Round(time.Second), limit, brokenDeadline)
	}
	output := r.stdout + r.stderr
	// The provider's words: the Deployment by namespace and name, Kubernetes' verdict on the rollout.
	for _, want := range []string{"kubernetes:apps/v1:Deployment", namespace + "/" + deployment + `" failed to fully initialize`, "[ProgressDeadlineExceeded]"} {
		if !strings.Contains(output, want) {
			t.Errorf("the failed up does not say %q:\n%s\n%s", want, r.stdout, r.stderr)
		}
	}
	if _, diagnostics, ok := strings.Cut(r.stdout, "Diagnostics:\n"); ok {
		diagnostics, _, _ = strings.Cut(diagnostics, "\nOutputs:")
		t.Logf("the failure as the provider reports it:\n%s", diagnostics)
	}
	// The old pods still serve: the rollout never takes one away before its replacement is Ready.
	d := getDeployment(t, api, namespace, deployment)
	if d.Status.ReadyReplicas < profile.App.Replicas {
		t.Errorf("Deployment %s/%s has %d Ready replicas during the broken rollout, want the %d of the previous release", namespace, deployment, d.Status.ReadyReplicas, profile.App.Replicas)
	}
}

// profileDefaults is the profile of the stack: what the stack files leave to it, which the lifecycle's
// stack files do for the keys checked here.
func (lc *lifecycle) profileDefaults(t *testing.T) stacks.Config {
	t.Helper()
	env := stacks.Dev
	if lc.stack == "prod" {
		env = stacks.Prod
	}
	cfg, err := stacks.Defaults(env, lc.stack)
	if err != nil {
		t.Fatalf("the %s profile: %v", env, err)
	}
	return cfg
}

// deploymentState is what the lifecycle reads of the app's Deployment.
type deploymentState struct {
	Metadata struct {
		Generation int `json:"generation"`
	} `json:"metadata"`
	Spec struct {
		ProgressDeadlineSeconds int `json:"progressDeadlineSeconds"`
		Template                struct {
			Spec struct {
				Containers containerRequests `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration int `json:"observedGeneration"`
		Replicas           int `json:"replicas"`
		UpdatedReplicas    int `json:"updatedReplicas"`
		ReadyReplicas      int `json:"readyReplicas"`
		Conditions         []struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"conditions"`
	} `json:"status"`
}

func getDeployment(t *testing.T, api apiClient, namespace, name string) deploymentState {
	t.Helper()
	var d deploymentState
	if code := api.get(t, "/apis/apps/v1/namespaces/"+namespace+"/deployments/"+name, &d); code != http.StatusOK {
		t.Fatalf("GET Deployment %s/%s: HTTP %d", namespace, name, code)
	}
	return d
}

// requireRolledOut checks that the Deployment runs the profile's spec again, fully rolled out: every
// replica updated and Ready, none left of the broken release.
func (lc *lifecycle) requireRolledOut(t *testing.T, api apiClient, namespace, name string) {
	t.Helper()
	profile := lc.profileDefaults(t)
	d := getDeployment(t, api, namespace, name)
	if d.Spec.ProgressDeadlineSeconds != profile.App.Rollout.ProgressDeadlineSeconds {
		t.Errorf("progressDeadlineSeconds = %d, want the previous release's %d", d.Spec.ProgressDeadlineSeconds, profile.App.Rollout.ProgressDeadlineSeconds)
	}
	if c := d.Spec.Template.Spec.Containers; len(c) == 0 || c[0].Resources.Requests["cpu"] != profile.App.Resources.Requests.CPU {
		t.Errorf("the app's containers %+v, want a CPU request of %s", c, profile.App.Resources.Requests.CPU)
	}
	progressing := ""
	for _, c := range d.Status.Conditions {
		if c.Type == "Progressing" {
			progressing = c.Reason
		}
	}
	s := d.Status
	if d.Metadata.Generation != s.ObservedGeneration || s.Replicas != profile.App.Replicas || s.UpdatedReplicas != s.Replicas ||
		s.ReadyReplicas != s.Replicas || progressing != "NewReplicaSetAvailable" {
		t.Errorf("Deployment %s/%s not rolled out: generation %d observed %d, replicas %d updated %d ready %d (want %d), Progressing %q",
			namespace, name, d.Metadata.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, profile.App.Replicas, progressing)
	}
}

// destroy destroys the stack and checks that nothing carrying its label is left, in any listable API
// kind, and that its state holds no resource.
func (lc *lifecycle) destroy(t *testing.T, kubeconfig string, destroyArgs []string) {
	ctx := lc.ctx
	identity := "nexios." + lc.stack
	kubectl, err := lc.tc.Path(toolchain.Kubectl)
	if err != nil {
		t.Fatal(err)
	}
	// Before: the check below must be able to see the stack's objects.
	if before := labelledObjects(ctx, t, kubectl, kubeconfig, identity); len(before) < 10 {
		t.Fatalf("only %d objects carry the stack's label before destroy, so their absence would prove nothing: %v", len(before), before)
	}
	lc.p.mustRun(ctx, append([]string{"destroy", lc.stack}, destroyArgs...)...)
	// Deleting a namespace finishes after the provider lets go of it.
	var left []string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(2 * time.Second) {
		if left = labelledObjects(ctx, t, kubectl, kubeconfig, identity); len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("destroy left %d objects labelled %s: %v", len(left), identity, left)
	}
	env := scratchEnv(lc.tc, lc.p)
	for _, kv := range lc.p.env {
		if v, ok := strings.CutPrefix(kv, "PULUMI_CONFIG_PASSPHRASE="); ok {
			env["PULUMI_CONFIG_PASSPHRASE"] = v
		}
	}
	var state struct {
		Deployment struct {
			Resources []struct {
				URN string `json:"urn"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	out := pulumiCLI(ctx, t, lc.tc, lc.p, env, nil, "stack", "export", "--stack", lc.stack)
	if err := json.Unmarshal(out, &state); err != nil {
		t.Fatalf("parsing the state: %v\n%s", err, out)
	}
	if n := len(state.Deployment.Resources); n > 0 {
		t.Errorf("the state holds %d resources after destroy, e.g. %s", n, state.Deployment.Resources[0].URN)
	}
}

// lifecycleTable renders the results as a Markdown table: a row per step, a column per profile with
// its result and time; a step that did not run (an earlier one failed) is "not run".
func lifecycleTable(profiles []string, results map[string]map[string]stepResult) string {
	var b strings.Builder
	b.WriteString("| step |")
	for _, p := range profiles {
		fmt.Fprintf(&b, " %s |", p)
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---|", len(profiles)))
	totals := make([]time.Duration, len(profiles))
	for _, step := range lifecycleSteps {
		fmt.Fprintf(&b, "\n| %s |", step)
		for i, p := range profiles {
			r, ran := results[p][step]
			switch {
			case !ran:
				b.WriteString(" not run |")
			case r.ok:
				fmt.Fprintf(&b, " ok %s |", r.elapsed.Round(time.Second))
			default:
				fmt.Fprintf(&b, " FAIL %s |", r.elapsed.Round(time.Second))
			}
			totals[i] += r.elapsed
		}
	}
	b.WriteString("\n| total |")
	for _, total := range totals {
		fmt.Fprintf(&b, " %s |", total.Round(time.Second))
	}
	return b.String()
}
