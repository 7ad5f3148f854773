package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"iter"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
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
	"immutable fields preview as replaces; data loss is flagged and refused",
	"destroy leaves nothing",
	"up killed (SIGKILL) mid-create; recover, then up, converge",
	"up interrupted (SIGINT) mid-create; recover, then up, converge",
	"no secret value in state, outputs, logs or rendered YAML",
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
// preview and refresh with --expect-no-changes, drift reported and repaired, a release whose pods are
// never Ready (up fails by the rollout's progress deadline, naming the Deployment and why) then the
// previous release (up restores it), changes of immutable fields (previewed as replaces, the one that
// loses data flagged and refused), destroy (nothing carrying the stack's label is left in any API kind,
// and its state holds no resource), an up killed with SIGKILL and one interrupted with SIGINT, each
// recovered by `deploy recover`, and a scan for the stack's secret values in everything it wrote or
// printed. It ends with a Markdown table of every step's result and time per profile.
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
	// A mark every process deploy starts inherits, by which the interruption steps find a survivor
	// wherever it was re-parented.
	mark := fmt.Sprintf("NEXIOS_E2E_LIFECYCLE_RUN=%d-%d", os.Getpid(), time.Now().UnixNano())
	for _, profile := range profiles {
		results[profile.name] = map[string]stepResult{}
		t.Run(profile.name, func(t *testing.T) {
			ctx, tc, p := pipelineTest(t)
			env, destroyArgs := profile.setUp(ctx, t, tc, p)
			// No real node (onOwnCluster turns it off): kwok marks a scheduled pod Ready at once, so
			// the times measure the engine and the program, not image pulls, and the broken release's
			// pods fail by scheduling alone.
			cluster := p.onOwnCluster(ctx, profile.cluster, append(env, mark)...)
			lc := &lifecycle{ctx: ctx, tc: tc, p: p, stack: profile.stack, cluster: profile.cluster, confirm: destroyArgs, mark: mark,
				secrets: map[string]bool{}, results: results[profile.name]}
			lc.run(t, cluster.Kubeconfig)
		})
	}

	table := lifecycleTable([]string{"dev", "prod"}, results)
	t.Log("\n" + table)
	fmt.Println(table)
}

// setUpLocalProd writes the prod profile as TestProdProfile deploys it locally (localProdConfig) and
// sets its database URL as a secret under a passphrase of its own. The arguments it returns confirm a
// prod stack's destroy and destructive up.
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
	// confirm is what destroy and a destructive up of the stack need: --confirm STACK for prod.
	confirm []string
	// mark is in the environment of every process the command starts (see recovery).
	mark string
	// secrets are the stack's secret values, configured and generated, for the final scan: every
	// generation's, since destroy and up make new ones.
	secrets map[string]bool
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
func (lc *lifecycle) run(t *testing.T, kubeconfigOf func(context.Context) (string, error)) {
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
			// Nothing changed: the plan holds only unchanged resources, and no update runs.
			r := p.mustRun(ctx, "up", stack)
			if !regexp.MustCompile(`(?m)^stack \S+: 0 to change \(same \d+\)$`).MatchString(r.stdout) || !strings.Contains(r.stdout, "nothing is to change: no update run") {
				t.Errorf("the second up: want a plan of unchanged resources only and no update run:\n%s", r.stdout)
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
		func(t *testing.T) {
			lc.immutableFields(t, stackFile, previous, api, outputs.Namespace)
		},
		func(t *testing.T) { lc.destroy(t, kubeconfig) },
		func(t *testing.T) { lc.interrupted(t, api, syscall.SIGKILL) },
		func(t *testing.T) {
			// From empty again: the secrets of this generation go to the scan first.
			lc.collectSecrets(t)
			lc.p.mustRun(ctx, append([]string{"destroy", stack}, lc.confirm...)...)
			lc.interrupted(t, api, syscall.SIGINT)
		},
		func(t *testing.T) { lc.noSecretLeaks(t) },
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
	profile := lc.profileDefaults(t)
	writeEdited(t, stackFile, previous, func(_, app map[string]any) {
		app["resources"] = map[string]any{"requests": map[string]any{"cpu": "5"}, "limits": map[string]any{"cpu": "5"}}
		app["rollout"] = map[string]any{"progressDeadlineSeconds": int(brokenDeadline.Seconds())}
		if profile.App.Quota.Enabled {
			// 13 pods (10 at most, and a surge of 3) of 5 CPU.
			app["quota"] = map[string]any{"requestsCpu": "100", "limitsCpu": "100"}
		}
	})
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

// writeEdited writes the stack file previous, with edit applied to its config section and its
// nexios:app, to stackFile.
func writeEdited(t *testing.T, stackFile string, previous []byte, edit func(config, app map[string]any)) {
	t.Helper()
	var file map[string]any
	if err := yaml.Unmarshal(previous, &file); err != nil {
		t.Fatalf("parsing the stack file: %v", err)
	}
	config, _ := file["config"].(map[string]any)
	app, _ := config["nexios:app"].(map[string]any)
	if app == nil {
		t.Fatalf("the stack file has no nexios:app: %v", config)
	}
	edit(config, app)
	raw, err := yaml.Marshal(file)
	if err != nil {
		t.Fatalf("rendering the edited stack file: %v", err)
	}
	if err := os.WriteFile(stackFile, raw, 0o644); err != nil {
		t.Fatalf("writing the edited stack file: %v", err)
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
func (lc *lifecycle) destroy(t *testing.T, kubeconfig string) {
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
	lc.collectSecrets(t)
	lc.p.mustRun(ctx, append([]string{"destroy", lc.stack}, lc.confirm...)...)
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
	var state struct {
		Deployment struct {
			Resources []struct {
				URN string `json:"urn"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	out := pulumiCLI(ctx, t, lc.tc, lc.p, nil, nil, "stack", "export", "--stack", lc.stack)
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

// immutableFields changes fields Kubernetes will not update in place, on an app volume claim and, where
// the profile has one (the logging setup of prod), a Job's pod template:
//   - a new claim and (prod) logging.retentionDays one lower, whose checksum is in the Job's pod
//     template: preview shows the Job as a replace forced by its template, and up takes it;
//   - the claim's storage class: preview shows a replace forced by spec.storageClassName, flagged
//     data-loss, and up refuses it (exit 2, naming --allow-destructive) with the claim unchanged;
//   - the claim's size, smaller: Kubernetes cannot shrink a claim, so the preview fails naming it and
//     up stops at that preview, before anything changes, never half-way through;
//   - the previous stack file, which removes the claim: data loss, taken with --allow-destructive.
func (lc *lifecycle) immutableFields(t *testing.T, stackFile string, previous []byte, api apiClient, namespace string) {
	ctx, p, stack := lc.ctx, lc.p, lc.stack
	profile := lc.profileDefaults(t)
	// withVolume writes the previous stack file with an app volume claim of the given size and class
	// and, with logging, the lower retention.
	withVolume := func(size, class string) {
		t.Helper()
		writeEdited(t, stackFile, previous, func(config, app map[string]any) {
			// ReadWriteMany: prod runs several pods, which one-node access modes refuse.
			volume := map[string]any{"name": "data", "mountPath": "/data", "size": size, "accessMode": "ReadWriteMany"}
			if class != "" {
				volume["storageClass"] = class
			}
			app["volumes"] = []any{volume}
			if profile.Logging.Enabled {
				logging, _ := config["nexios:logging"].(map[string]any)
				if logging == nil {
					logging = map[string]any{}
					config["nexios:logging"] = logging
				}
				logging["retentionDays"] = profile.Logging.RetentionDays - 1
			}
		})
	}
	const claimType = "kubernetes:core/v1:PersistentVolumeClaim"
	forcedBy := func(c plannedChange, path string) bool {
		for _, pc := range c.Changes {
			if pc.ForcesReplace && (pc.Path == path || strings.HasPrefix(pc.Path, path+".")) {
				return true
			}
		}
		return false
	}
	type claimState struct {
		Spec struct {
			StorageClassName string `json:"storageClassName"`
			Resources        struct {
				Requests map[string]string `json:"requests"`
			} `json:"resources"`
		} `json:"spec"`
	}
	claims := func() []claimState {
		t.Helper()
		var list struct {
			Items []claimState `json:"items"`
		}
		// The app's claims only: dev's in-cluster PostgreSQL has its own (app.kubernetes.io/name=postgres).
		if code := api.get(t, "/api/v1/namespaces/"+namespace+"/persistentvolumeclaims"+byLabel("nexios"), &list); code != http.StatusOK {
			t.Fatalf("GET the claims of %s: HTTP %d", namespace, code)
		}
		return list.Items
	}

	withVolume("2Gi", "")
	plan := parsePlan(t, p.mustRun(ctx, "preview", stack, "--json"))
	if len(plan.find(claimType, "create")) != 1 {
		t.Errorf("the new volume is not one claim to create: %+v", plan.Resources)
	}
	if profile.Logging.Enabled {
		jobs := plan.find("kubernetes:batch/v1:Job", "replace")
		if len(jobs) != 1 || !forcedBy(jobs[0], "spec.template") {
			t.Errorf("the logging setup Job, whose pod template changed, is not one replace forced by spec.template: %+v", jobs)
		}
	}
	p.mustRun(ctx, "up", stack)
	before := claims()
	if len(before) != 1 || before[0].Spec.Resources.Requests["storage"] != "2Gi" {
		t.Fatalf("the app's claims after up: %+v, want one of 2Gi", before)
	}

	withVolume("2Gi", "nexios-lifecycle-other")
	plan = parsePlan(t, p.mustRun(ctx, "preview", stack, "--json"))
	replaced := plan.find(claimType, "replace")
	if len(replaced) != 1 || replaced[0].Risk != "data-loss" || !forcedBy(replaced[0], "spec.storageClassName") {
		t.Errorf("the claim's new storage class is not one replace forced by spec.storageClassName and flagged data-loss: %+v", replaced)
	}
	r := p.run(ctx, "up", stack)
	if r.code != 2 {
		t.Fatalf("up of a data-loss plan without --allow-destructive: exit %d, want 2 (refused)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"nothing in the cluster was changed", claimType, "data-loss", "--allow-destructive"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refused up's stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if after := claims(); !reflect.DeepEqual(after, before) {
		t.Errorf("the refused up changed the app's claims: %+v, want %+v", after, before)
	}

	withVolume("1Gi", "")
	for _, command := range []string{"preview", "up"} {
		r := p.run(ctx, command, stack)
		if r.code != 1 {
			t.Fatalf("%s of a smaller claim: exit %d, want 1 (the preview fails)\nstdout:\n%s\nstderr:\n%s", command, r.code, r.stdout, r.stderr)
		}
		if output := r.stdout + r.stderr; !strings.Contains(output, "PersistentVolumeClaim") || !strings.Contains(output, "can not be less than") {
			t.Errorf("%s: the output does not say the claim cannot shrink:\n%s", command, output)
		}
	}
	if after := claims(); !reflect.DeepEqual(after, before) {
		t.Errorf("the failed up changed the app's claims: %+v, want %+v", after, before)
	}

	if err := os.WriteFile(stackFile, previous, 0o644); err != nil {
		t.Fatalf("restoring the stack file: %v", err)
	}
	r = p.mustRun(ctx, append([]string{"up", stack, "--allow-destructive"}, lc.confirm...)...)
	if !strings.Contains(r.stderr, "going ahead with") || !strings.Contains(r.stderr, claimType) {
		t.Errorf("removing the claim is not named as the destructive step it is:\n%s", r.stderr)
	}
}

// interrupted runs recovery's scenario for sig on the stack, whose state is empty.
func (lc *lifecycle) interrupted(t *testing.T, api apiClient, sig syscall.Signal) {
	r := &recovery{t: t, p: lc.p, tc: lc.tc, api: api, stack: lc.stack, mark: lc.mark}
	t.Log(r.interruptAndRecover(lc.ctx, sig))
}

// collectSecrets adds the stack's secret values to lc.secrets: every password it generated, and every
// configuration value it keeps as a secret (prod's databaseUrl).
func (lc *lifecycle) collectSecrets(t *testing.T) {
	t.Helper()
	for _, v := range generatedSecrets(lc.ctx, t, lc.tc, lc.p, lc.stack) {
		lc.secrets[v] = true
	}
	out := pulumiCLI(lc.ctx, t, lc.tc, lc.p, nil, nil, "config", "--show-secrets", "--json", "--stack", lc.stack)
	var config map[string]struct {
		Value  any  `json:"value"`
		Secret bool `json:"secret"`
	}
	if err := json.Unmarshal(out, &config); err != nil {
		t.Fatalf("parsing the stack's configuration: %v", err)
	}
	for _, c := range config {
		if v, ok := c.Value.(string); ok && c.Secret && v != "" {
			lc.secrets[v] = true
		}
	}
}

// noSecretLeaks looks for every secret value the stack has had, plain and base64, in the backend's
// files, in everything the command printed (outputs and outputs --json included) and in the YAML that
// render writes.
func (lc *lifecycle) noSecretLeaks(t *testing.T) {
	ctx, p, stack := lc.ctx, lc.p, lc.stack
	lc.collectSecrets(t)
	p.mustRun(ctx, "outputs", stack)
	p.mustRun(ctx, "outputs", stack, "--json")
	rendered := t.TempDir()
	p.mustRun(ctx, "render", stack, "--out", rendered)

	places := map[string]string{"what the command printed": p.transcript.String()}
	state := stateFiles(t, p.project)
	for path, content := range state {
		places["the state file "+path] = content
	}
	err := filepath.WalkDir(rendered, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		places["the rendered "+path] = string(raw)
		return err
	})
	if err != nil {
		t.Fatalf("reading the render: %v", err)
	}
	if len(lc.secrets) == 0 || len(state) == 0 || len(places) == len(state)+1 || p.transcript.Len() == 0 {
		t.Fatalf("nothing to scan: %d secret values, %d state files, %d rendered files, %d bytes printed",
			len(lc.secrets), len(state), len(places)-len(state)-1, p.transcript.Len())
	}
	for _, leak := range secretLeaks(maps.Keys(lc.secrets), places) {
		t.Error(leak)
	}
	t.Logf("%d secret values, in neither form in %d state files, %d rendered files or the %d bytes the command printed",
		len(lc.secrets), len(state), len(places)-len(state)-1, p.transcript.Len())
}

// secretLeaks says, for each of secrets found in one of places (what it is: its content), where and
// in which form: plain or base64, as a Secret's data holds it.
func secretLeaks(secrets iter.Seq[string], places map[string]string) []string {
	var leaks []string
	for secret := range secrets {
		forms := map[string]string{"plain": secret, "base64": base64.StdEncoding.EncodeToString([]byte(secret))}
		for name, form := range forms {
			for where, content := range places {
				if strings.Contains(content, form) {
					leaks = append(leaks, fmt.Sprintf("%s holds a secret value (%d characters) in %s form", where, len(secret), name))
				}
			}
		}
	}
	return leaks
}
