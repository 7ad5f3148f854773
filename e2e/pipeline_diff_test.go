package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

// planSummary is what the pipeline tests read of deploy's --json summary (preview and drift).
type planSummary struct {
	Operation string          `json:"operation"`
	Changed   int             `json:"changed"`
	Resources []plannedChange `json:"resources"`
}

type plannedChange struct {
	URN            string   `json:"urn"`
	Type           string   `json:"type"`
	Operation      string   `json:"operation"`
	Risk           string   `json:"risk"`
	ReplaceReasons []string `json:"replaceReasons"`
	Changes        []struct {
		Path          string `json:"path"`
		Kind          string `json:"kind"`
		ForcesReplace bool   `json:"forcesReplace"`
		Secret        bool   `json:"secret"`
		Old           any    `json:"old"`
		New           any    `json:"new"`
	} `json:"changes"`
}

func parsePlan(t *testing.T, r result) planSummary {
	t.Helper()
	var s planSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("the summary is not JSON: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	return s
}

// find returns the planned changes of type typ whose operation is op.
func (s planSummary) find(typ, op string) []plannedChange {
	var out []plannedChange
	for _, c := range s.Resources {
		if c.Type == typ && c.Operation == op {
			out = append(out, c)
		}
	}
	return out
}

// editStack rewrites the scratch project's dev stack file: each key of replace by its value, then the
// extra top-level settings after "config:". It returns a function putting the file back.
func editStack(t *testing.T, p *pipeline, replace map[string]string, extra string) func() {
	t.Helper()
	path := filepath.Join(p.project, "Pulumi.dev.yaml")
	original, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the stack file: %v", err)
	}
	text := string(original)
	for from, to := range replace {
		if !strings.Contains(text, from) {
			t.Fatalf("the stack file lacks %q:\n%s", from, text)
		}
		text = strings.Replace(text, from, to, 1)
	}
	text = strings.Replace(text, "config:\n", "config:\n"+extra, 1)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatalf("writing the stack file: %v", err)
	}
	return func() {
		if err := os.WriteFile(path, original, 0o644); err != nil {
			t.Errorf("restoring the stack file: %v", err)
		}
	}
}

// previewShowsChanges changes a plain setting and rotates the app's secret key, then checks preview's
// JSON and Markdown name each change with its values, the secret one without any, and each step's risk;
// up then applies the plan, which has nothing destructive.
func previewShowsChanges(ctx context.Context, t *testing.T, tc toolchain.Toolchain, p *pipeline) {
	oldKey := generatedSecretKey(ctx, t, tc, p)
	// Kept for the tests that follow, which expect what this one deployed.
	_ = editStack(t, p, map[string]string{"LOG_LEVEL: debug": "LOG_LEVEL: info"}, "  nexios:secrets:\n    rotation:\n      appSecretKey: \"2\"\n")
	summaryFile := filepath.Join(t.TempDir(), "summary.md")
	r := p.mustRun(ctx, "preview", "dev", "--json", "--summary-file", summaryFile)
	md, err := os.ReadFile(summaryFile)
	if err != nil {
		t.Fatalf("reading the summary file: %v", err)
	}
	for _, secret := range []string{oldKey, base64.StdEncoding.EncodeToString([]byte(oldKey))} {
		if strings.Contains(r.stdout+r.stderr+string(md), secret) {
			t.Errorf("the preview prints the app's secret key")
		}
	}
	plan := parsePlan(t, r)
	var logLevel, secretChanged bool
	for _, c := range plan.Resources {
		for _, pc := range c.Changes {
			// The ConfigMap is replaced: its name changes with its content, so pods never read a half-rolled one.
			if c.Type == "kubernetes:core/v1:ConfigMap" && pc.Path == "data.LOG_LEVEL" && pc.Old == "debug" && pc.New == "info" && pc.ForcesReplace {
				logLevel = true
			}
			if c.Type == "kubernetes:core/v1:Secret" && pc.Secret && pc.Old == nil && pc.New == nil {
				secretChanged = true
			}
			if pc.Secret && (pc.Old != nil || pc.New != nil) {
				t.Errorf("%s: secret property %s has values", c.URN, pc.Path)
			}
		}
	}
	if !logLevel {
		t.Errorf("no ConfigMap change of data.LOG_LEVEL from debug to info:\n%s", r.stdout)
	}
	if !secretChanged {
		t.Errorf("no Secret change shown as secret without values:\n%s", r.stdout)
	}
	var rolls bool
	for _, c := range plan.find("kubernetes:apps/v1:Deployment", "update") {
		rolls = rolls || c.Risk == "restarts-pods"
	}
	if !rolls {
		t.Errorf("the app Deployment's update is not classified restarts-pods:\n%s", r.stdout)
	}
	if len(plan.find("random:index/randomPassword:RandomPassword", "replace")) == 0 {
		t.Errorf("the rotated secret key is not replaced:\n%s", r.stdout)
	}
	for _, want := range []string{"### Preview of stack `dev`", "| update | `kubernetes:apps/v1:Deployment`", "restarts-pods", `"debug" -> "info"`, "(secret, value not shown)", "| replace | `random:index/randomPassword:RandomPassword`"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the Markdown summary lacks %q:\n%s", want, md)
		}
	}
	up := p.mustRun(ctx, "up", "dev")
	if !strings.Contains(up.stdout, "Plan of stack dev:") || !strings.Contains(up.stdout, "[restarts-pods]") {
		t.Errorf("up does not print its plan with the risks:\n%s", up.stdout)
	}
	if generatedSecretKey(ctx, t, tc, p) == oldKey {
		t.Errorf("up did not rotate the secret key")
	}
}

// upRefusesDataLoss moves the app to another namespace, which replaces the Namespace: preview says so,
// up refuses without --allow-destructive and changes nothing.
func upRefusesDataLoss(ctx context.Context, t *testing.T, p *pipeline, api apiClient) {
	restore := editStack(t, p, nil, "  nexios:target:\n    namespace: nexios-moved\n")
	defer restore()
	plan := parsePlan(t, p.mustRun(ctx, "preview", "dev", "--json"))
	namespaces := plan.find("kubernetes:core/v1:Namespace", "replace")
	if len(namespaces) == 0 || namespaces[0].Risk != "data-loss" {
		t.Fatalf("no Namespace replace classified data-loss: %+v", plan.Resources)
	}
	var forced bool
	for _, pc := range namespaces[0].Changes {
		forced = forced || (pc.Path == "metadata.name" && pc.ForcesReplace && pc.Old == "nexios-dev" && pc.New == "nexios-moved")
	}
	if !forced || len(namespaces[0].ReplaceReasons) == 0 {
		t.Errorf("the Namespace replace does not say metadata.name forces it: %+v", namespaces[0])
	}
	for _, args := range [][]string{{"up", "dev"}, {"up", "dev", "--confirm", "dev"}} {
		r := p.run(ctx, args...)
		if r.code != 2 {
			t.Fatalf("%v: exit %d, want 2 (refused)\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"destructive step", "nothing in the cluster was changed", "kubernetes:core/v1:Namespace", "data-loss", "--allow-destructive"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", args, want, r.stderr)
			}
		}
	}
	if code := api.get(t, "/api/v1/namespaces/nexios-moved", nil); code != http.StatusNotFound {
		t.Errorf("namespace nexios-moved answers HTTP %d after a refused up, want 404", code)
	}
	if code := api.get(t, "/api/v1/namespaces/nexios-dev", nil); code != http.StatusOK {
		t.Errorf("namespace nexios-dev answers HTTP %d after a refused up, want 200", code)
	}
}

// upTakesAllowedDataLoss moves the app to another namespace with --allow-destructive: up says which
// destructive steps it goes ahead with and takes them.
func upTakesAllowedDataLoss(ctx context.Context, t *testing.T, p *pipeline, api apiClient) {
	restore := editStack(t, p, nil, "  nexios:target:\n    namespace: nexios-moved\n")
	defer restore()
	r := p.mustRun(ctx, "up", "dev", "--allow-destructive")
	if !strings.Contains(r.stderr, "going ahead with") || !strings.Contains(r.stderr, "kubernetes:core/v1:Namespace") {
		t.Errorf("up --allow-destructive does not name the destructive steps it takes:\n%s", r.stderr)
	}
	if code := api.get(t, "/api/v1/namespaces/nexios-moved", nil); code != http.StatusOK {
		t.Errorf("namespace nexios-moved answers HTTP %d after up --allow-destructive, want 200", code)
	}
	if out := currentOutputs(ctx, t, p); out["namespace"] != "nexios-moved" {
		t.Errorf("the stack's namespace output is %q, want nexios-moved", out["namespace"])
	}
}

// driftIsReportedAndRepaired changes the cluster behind the program's back, three ways; drift reports
// each, exit 5; up puts them back, after which drift finds nothing.
func driftIsReportedAndRepaired(ctx context.Context, t *testing.T, p *pipeline, api apiClient) {
	if r := p.run(ctx, "drift", "dev"); r.code != 0 {
		t.Fatalf("drift right after up: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// The names as the last up left them: the ConfigMap is replaced, under a new name, with its content.
	before := currentOutputs(ctx, t, p)
	deployment, service, configMap := before["deploymentName"], before["serviceName"], before["configMapName"]
	api.must(t, http.MethodPatch, "/apis/apps/v1/namespaces/nexios-dev/deployments/"+deployment+"/scale", `{"spec":{"replicas":3}}`)
	api.must(t, http.MethodPatch, "/api/v1/namespaces/nexios-dev/configmaps/"+configMap, `{"data":{"LOG_LEVEL":"warning"}}`)
	api.must(t, http.MethodDelete, "/api/v1/namespaces/nexios-dev/services/"+service, "")

	summaryFile := filepath.Join(t.TempDir(), "drift.md")
	r := p.run(ctx, "drift", "dev", "--json", "--summary-file", summaryFile)
	if r.code != 5 {
		t.Fatalf("drift: exit %d, want 5\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	md, err := os.ReadFile(summaryFile)
	if err != nil {
		t.Fatalf("reading the summary file: %v", err)
	}
	for _, want := range []string{"### Drift of stack `dev`: 3 drifted", "| delete | `kubernetes:core/v1:Service`", `"info" -> "warning"`} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the drift's Markdown summary lacks %q:\n%s", want, md)
		}
	}
	drift := parsePlan(t, r)
	changed := func(typ, name, path string, old, new any) bool {
		for _, c := range drift.find(typ, "update") {
			for _, pc := range c.Changes {
				if strings.HasSuffix(c.URN, name) && strings.Contains(pc.Path, path) && pc.Old == old && pc.New == new {
					return true
				}
			}
		}
		return false
	}
	if !changed("kubernetes:apps/v1:Deployment", "", "replicas", 1.0, 3.0) {
		t.Errorf("drift does not report the Deployment scaled from 1 to 3:\n%s", r.stdout)
	}
	if !changed("kubernetes:core/v1:ConfigMap", "", "LOG_LEVEL", "info", "warning") {
		t.Errorf("drift does not report the ConfigMap's LOG_LEVEL edited from info to warning:\n%s", r.stdout)
	}
	if len(drift.find("kubernetes:core/v1:Service", "delete")) != 1 {
		t.Errorf("drift does not report the deleted Service:\n%s", r.stdout)
	}
	if drift.Changed != 3 || drift.Operation != "Drift" {
		t.Errorf("drift: %d changed (%s), want the 3 made by hand:\n%s", drift.Changed, drift.Operation, r.stdout)
	}

	p.mustRun(ctx, "up", "dev")
	if r := p.run(ctx, "drift", "dev"); r.code != 0 {
		t.Errorf("drift after up: exit %d, want 0 (repaired)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var scale struct {
		Spec struct {
			Replicas int `json:"replicas"`
		} `json:"spec"`
	}
	api.get(t, "/apis/apps/v1/namespaces/nexios-dev/deployments/"+deployment+"/scale", &scale)
	if scale.Spec.Replicas != 1 {
		t.Errorf("replicas after up: %d, want 1", scale.Spec.Replicas)
	}
	// up recreates the deleted Service and replaces the edited ConfigMap, each under a new generated name.
	after := currentOutputs(ctx, t, p)
	if code := api.get(t, "/api/v1/namespaces/nexios-dev/services/"+after["serviceName"], nil); code != http.StatusOK {
		t.Errorf("service %s after up: HTTP %d, want 200", after["serviceName"], code)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	api.get(t, "/api/v1/namespaces/nexios-dev/configmaps/"+after["configMapName"], &cm)
	if cm.Data["LOG_LEVEL"] != "info" {
		t.Errorf("LOG_LEVEL of ConfigMap %s after up: %q, want info", after["configMapName"], cm.Data["LOG_LEVEL"])
	}
}

// currentOutputs reads the dev stack's string outputs through the built command.
func currentOutputs(ctx context.Context, t *testing.T, p *pipeline) map[string]string {
	t.Helper()
	return currentOutputsOf(ctx, t, p, "dev")
}

// currentOutputsOf is currentOutputs of any stack.
func currentOutputsOf(ctx context.Context, t *testing.T, p *pipeline, stack string) map[string]string {
	t.Helper()
	var outputs map[string]any
	r := p.mustRun(ctx, "outputs", stack, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &outputs); err != nil {
		t.Fatalf("outputs --json is not JSON: %v\n%s", err, r.stdout)
	}
	names := map[string]string{}
	for key, v := range outputs {
		if s, ok := v.(string); ok {
			names[key] = s
		}
	}
	return names
}

// must sends a merge patch (PATCH) or a bare request and fails the test unless the API accepts it.
func (c apiClient) must(t *testing.T, method, path, body string) {
	t.Helper()
	req, err := http.NewRequest(method, c.server+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
}
