package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"

	"github.com/nexios-labs/nexios-k8s/internal/staterepair"
	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

// TestRecoverReadsBackWhatACancelledCreateMade puts the prod stack where a cancelled up leaves it when
// the create requests of two objects reached the API server but their client was cancelled: the
// objects exist, the state knows nothing of them, and nothing that depends on them was created. Those
// creates are recorded into the state by the code deploy runs after a cancel (staterepair's
// AddPendingCreates, then ResolvePending), with their inputs as the engine's events carry them,
// secrets blinded. The objects are the logging snapshot repository's PersistentVolumeClaim and the
// app's Secret, which holds the database URL and the generated secret key. Then `deploy recover prod`
// must read both back, with no secret value left in plaintext in the backend and no "not read back"
// mark; the next `deploy up prod` must converge without replacing anything (the claim keeps its name
// and its data) and `deploy preview prod --expect-no-changes` must pass.
//
// It exists because a CI run's cancelled up adopted that claim with its identity alone as inputs, and
// the next up planned it as a replace, refused as a data loss. TestLifecycle's SIGINT step interrupts
// an up at a moment of its own and hits such a create only by chance.
func TestRecoverReadsBackWhatACancelledCreateMade(t *testing.T) {
	ctx, tc, p := pipelineTest(t)
	env, _ := setUpLocalProd(ctx, t, tc, p)
	cluster := p.onOwnCluster(ctx, "nexios-e2e-adopt", env...)
	p.mustRun(ctx, "up", "prod")
	kubeconfig, err := cluster.Kubeconfig(ctx)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	api := newAPIClient(t, kubeconfig)

	var exported struct {
		Version    int                        `json:"version"`
		Deployment map[string]json.RawMessage `json:"deployment"`
	}
	before := pulumiCLI(ctx, t, tc, p, nil, nil, "stack", "export", "--show-secrets", "--stack", "prod")
	if err := json.Unmarshal(before, &exported); err != nil {
		t.Fatalf("parsing the exported state: %v", err)
	}
	var resources []stateResource
	if err := json.Unmarshal(exported.Deployment["resources"], &resources); err != nil {
		t.Fatalf("reading the state's resources: %v", err)
	}
	claim := findResource(t, resources, "the snapshot repository's claim", func(r stateResource) bool {
		return r.Type == "kubernetes:core/v1:PersistentVolumeClaim" && strings.HasSuffix(r.URN, "-snapshots")
	})
	secret := findResource(t, resources, "the Secret holding the database URL", func(r stateResource) bool {
		return r.Type == "kubernetes:core/v1:Secret" && slices.Contains(secretData(r.Inputs), localDatabaseURL)
	})
	secrets := secretData(secret.Inputs)
	if len(secrets) < 2 {
		t.Fatalf("the app's Secret holds %d secret input value(s), want the database URL and the secret key", len(secrets))
	}
	// The state holds them encoded as the scans below look for them.
	for _, value := range secrets {
		if !strings.Contains(string(before), base64.StdEncoding.EncodeToString([]byte(value))) {
			t.Fatalf("the exported state holds a value of the Secret (%d characters) in a form the scans do not look for", len(value))
		}
	}

	claimUID := claimUIDOf(t, api, claim.ID)
	if claimUID == "" {
		t.Fatalf("the claim %s is not in the cluster after up", claim.ID)
	}

	// The state as the cancelled up leaves it: neither object, nor anything depending on them; in the
	// cluster, the two objects, and none of their dependents.
	removed := dependents(resources, claim.URN, secret.URN)
	var kept []stateResource
	var deletedObjects []string
	for _, r := range resources {
		switch {
		case !removed[r.URN]:
			kept = append(kept, r)
		case r.URN != claim.URN && r.URN != secret.URN && r.Custom && strings.HasPrefix(r.Type, "kubernetes:"):
			deleteObject(t, api, r)
			deletedObjects = append(deletedObjects, r.Type+" "+r.ID)
		}
	}
	t.Logf("removed from the state: the claim %s, the Secret %s and %d dependent resource(s); deleted from the cluster: %v",
		claim.ID, secret.ID, len(removed)-2, deletedObjects)
	if exported.Deployment["resources"], err = json.Marshal(kept); err != nil {
		t.Fatal(err)
	}
	deployment, err := json.Marshal(exported.Deployment)
	if err != nil {
		t.Fatal(err)
	}

	// What deploy does with the creates a cancel interrupted (adoptCancelledCreates), with the
	// creates as the engine's events carry them.
	var creates []apitype.StepEventStateMetadata
	for _, r := range []stateResource{claim, secret} {
		inputs, _ := blindSecrets(r.Inputs).(map[string]any)
		creates = append(creates, apitype.StepEventStateMetadata{URN: r.URN, Type: r.Type, Custom: true, Parent: r.Parent, Provider: r.Provider, Inputs: inputs})
	}
	withPending, added, err := staterepair.AddPendingCreates(deployment, creates)
	if err != nil || len(added) != 2 {
		t.Fatalf("AddPendingCreates: added %v, %v; want both creates", added, err)
	}
	edited, resolutions, err := staterepair.ResolvePending(withPending)
	if err != nil {
		t.Fatalf("ResolvePending: %v", err)
	}
	if len(resolutions) != 2 {
		t.Fatalf("ResolvePending: %v, want the 2 creates adopted", resolutions)
	}
	for _, r := range resolutions {
		if want := map[string]string{claim.URN: claim.ID, secret.URN: secret.ID}[r.URN]; !r.Adopted || r.ID != want {
			t.Fatalf("ResolvePending: %s, want it adopted as %s", r, want)
		}
	}
	state, err := json.Marshal(map[string]any{"version": exported.Version, "deployment": json.RawMessage(edited)})
	if err != nil {
		t.Fatal(err)
	}
	// Outside the backend: the exported state holds the stack's secrets in plaintext.
	stateFile := filepath.Join(t.TempDir(), "cancelled.json")
	if err := os.WriteFile(stateFile, state, 0o600); err != nil {
		t.Fatal(err)
	}
	pulumiCLI(ctx, t, tc, p, nil, nil, "stack", "import", "--stack", "prod", "--file", stateFile)

	rec := p.mustRun(ctx, "recover", "prod")
	if !strings.Contains(rec.stdout, "adopted objects not yet read back from the cluster (a cancelled up's): 2") {
		t.Errorf("recover did not count the 2 adopted objects:\n%s", rec.stdout)
	}
	after := exportedDeployment(ctx, t, tc, p)
	if pending, unread, err := staterepair.Leftovers(after); err != nil || pending+unread > 0 {
		t.Errorf("after recover: %d pending operation(s), %d adopted object(s) not read back (%v)", pending, unread, err)
	}
	requireTracked(t, after, claim, secret)
	noPlaintext(t, p, "after recover", secrets)

	// The next up creates what the cancel kept from being created and replaces nothing: the claim is
	// the same object, under the same name.
	up := p.run(ctx, "up", "prod")
	if up.code != 0 {
		t.Errorf("up after recover: exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	for line := range strings.Lines(up.stdout) {
		if strings.HasPrefix(line, "stack prod:") {
			t.Logf("up after recover: %s", strings.TrimSpace(line))
		}
		if fields := strings.Fields(line); len(fields) > 1 && fields[0] == "replace" {
			t.Errorf("the up after recover replaces what the cancelled creates made: %s", strings.TrimSpace(line))
		}
	}
	if uid := claimUIDOf(t, api, claim.ID); uid != claimUID {
		t.Errorf("the claim %s after up: UID %q, want the one it had before the cancel, %q", claim.ID, uid, claimUID)
	}
	requireTracked(t, exportedDeployment(ctx, t, tc, p), claim, secret)
	if res := p.run(ctx, "preview", "prod", "--expect-no-changes"); res.code != 0 {
		t.Errorf("preview --expect-no-changes after recover and up: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	noPlaintext(t, p, "after up", secrets)
}

// claimUIDOf returns the UID of the PersistentVolumeClaim namespace/name, "" when there is none.
func claimUIDOf(t *testing.T, api apiClient, id string) string {
	t.Helper()
	namespace, name, _ := strings.Cut(id, "/")
	var object struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	api.get(t, "/api/v1/namespaces/"+namespace+"/persistentvolumeclaims/"+name, &object)
	return object.Metadata.UID
}

// stateResource is a resource of an exported state, every field kept for the import.
type stateResource struct {
	URN      string
	Type     string
	ID       string
	Custom   bool
	Parent   string
	Provider string
	Inputs   map[string]any
	Outputs  map[string]any
	// refs are the URNs it refers to: parent, dependencies, property dependencies, deletedWith.
	refs []string
	raw  json.RawMessage
}

func (r *stateResource) UnmarshalJSON(raw []byte) error {
	var fields struct {
		URN                  string              `json:"urn"`
		Type                 string              `json:"type"`
		ID                   string              `json:"id"`
		Custom               bool                `json:"custom"`
		Parent               string              `json:"parent"`
		Provider             string              `json:"provider"`
		Inputs               map[string]any      `json:"inputs"`
		Outputs              map[string]any      `json:"outputs"`
		Dependencies         []string            `json:"dependencies"`
		PropertyDependencies map[string][]string `json:"propertyDependencies"`
		DeletedWith          string              `json:"deletedWith"`
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return err
	}
	refs := append([]string{fields.Parent, fields.DeletedWith}, fields.Dependencies...)
	for _, deps := range fields.PropertyDependencies {
		refs = append(refs, deps...)
	}
	*r = stateResource{URN: fields.URN, Type: fields.Type, ID: fields.ID, Custom: fields.Custom, Parent: fields.Parent,
		Provider: fields.Provider, Inputs: fields.Inputs, Outputs: fields.Outputs, refs: refs, raw: slices.Clone(raw)}
	return nil
}

func (r stateResource) MarshalJSON() ([]byte, error) { return r.raw, nil }

// findResource returns the one resource of resources that match selects.
func findResource(t *testing.T, resources []stateResource, what string, match func(stateResource) bool) stateResource {
	t.Helper()
	var found []stateResource
	for _, r := range resources {
		if match(r) {
			found = append(found, r)
		}
	}
	if len(found) != 1 || found[0].ID == "" {
		t.Fatalf("%s: %d resource(s) in the state, want one with an ID", what, len(found))
	}
	return found[0]
}

// dependents returns the URNs of roots and of every resource that refers to one of them, transitively.
func dependents(resources []stateResource, roots ...string) map[string]bool {
	out := map[string]bool{}
	for _, urn := range roots {
		out[urn] = true
	}
	for changed := true; changed; {
		changed = false
		for _, r := range resources {
			if !out[r.URN] && slices.ContainsFunc(r.refs, func(ref string) bool { return out[ref] }) {
				out[r.URN], changed = true, true
			}
		}
	}
	return out
}

// deleteObject deletes the Kubernetes object of r, and its own dependents in the background, and waits
// until it is gone.
func deleteObject(t *testing.T, api apiClient, r stateResource) {
	t.Helper()
	apiVersion, _ := r.Outputs["apiVersion"].(string)
	kind, _ := r.Outputs["kind"].(string)
	prefix := "/apis/" + apiVersion
	if !strings.Contains(apiVersion, "/") {
		prefix = "/api/" + apiVersion
	}
	var discovery struct {
		Resources []struct {
			Name       string `json:"name"`
			Kind       string `json:"kind"`
			Namespaced bool   `json:"namespaced"`
		} `json:"resources"`
	}
	if code := api.get(t, prefix, &discovery); code != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", prefix, code)
	}
	path := ""
	for _, res := range discovery.Resources {
		if res.Kind == kind && !strings.Contains(res.Name, "/") {
			path = prefix + "/" + res.Name + "/" + r.ID
			if namespace, name, ok := strings.Cut(r.ID, "/"); ok && res.Namespaced {
				path = prefix + "/namespaces/" + namespace + "/" + res.Name + "/" + name
			}
		}
	}
	if path == "" {
		t.Fatalf("%s %s: no API resource of kind %q in %s", r.Type, r.ID, kind, prefix)
	}
	if code, body := api.send(t, http.MethodDelete, path, `{"propagationPolicy": "Background"}`); code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("DELETE %s: HTTP %d %s", path, code, body)
	}
	for deadline := time.Now().Add(2 * time.Minute); api.get(t, path, nil) != http.StatusNotFound; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s is still there 2 minutes after its delete", path)
		}
	}
}

// secretData returns the values of a Secret's data, as its checked inputs hold them: a secret (as
// `stack export --show-secrets` writes it) of base64-encoded values.
func secretData(inputs map[string]any) []string {
	envelope, _ := inputs["data"].(map[string]any)
	plaintext, _ := envelope["plaintext"].(string)
	var data map[string]string
	if envelope[sig.Key] != sig.Secret || json.Unmarshal([]byte(plaintext), &data) != nil {
		return nil
	}
	var values []string
	for _, encoded := range data {
		if value, err := base64.StdEncoding.DecodeString(encoded); err == nil && len(value) > 0 {
			values = append(values, string(value))
		}
	}
	return values
}

// blindSecrets returns v with every secret as the engine's events carry it: the signature and a
// ciphertext that hides the value.
func blindSecrets(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v[sig.Key] == sig.Secret {
			return map[string]any{sig.Key: sig.Secret, "ciphertext": "[secret]"}
		}
		out := map[string]any{}
		for k, e := range v {
			out[k] = blindSecrets(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = blindSecrets(e)
		}
		return out
	}
	return v
}

// exportedDeployment exports the stack's state, secrets encrypted, and returns its deployment.
func exportedDeployment(ctx context.Context, t *testing.T, tc toolchain.Toolchain, p *pipeline) json.RawMessage {
	t.Helper()
	var state struct {
		Deployment json.RawMessage `json:"deployment"`
	}
	if err := json.Unmarshal(pulumiCLI(ctx, t, tc, p, nil, nil, "stack", "export", "--stack", "prod"), &state); err != nil {
		t.Fatalf("parsing the exported state: %v", err)
	}
	return state.Deployment
}

// requireTracked checks that deployment tracks each of want under its URN and ID, read back from the
// cluster (without the adoption's mark).
func requireTracked(t *testing.T, deployment json.RawMessage, want ...stateResource) {
	t.Helper()
	var state struct {
		Resources []struct {
			URN        string   `json:"urn"`
			ID         string   `json:"id"`
			Delete     bool     `json:"delete"`
			InitErrors []string `json:"initErrors"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(deployment, &state); err != nil {
		t.Fatalf("reading the exported state: %v", err)
	}
	for _, w := range want {
		var found []string
		for _, r := range state.Resources {
			if r.URN == w.URN && !r.Delete {
				found = append(found, r.ID)
				if slices.Contains(r.InitErrors, staterepair.AdoptedInitError) {
					t.Errorf("%s is still marked as not read back", w.URN)
				}
			}
		}
		if len(found) != 1 || found[0] != w.ID {
			t.Errorf("%s: tracked as %v, want %s", w.URN, found, w.ID)
		}
	}
}

// noPlaintext checks that no file of the backend holds any of values, plain or base64.
func noPlaintext(t *testing.T, p *pipeline, when string, values []string) {
	t.Helper()
	files := stateFiles(t, p.project)
	if len(files) == 0 {
		t.Fatalf("%s: no state file to scan", when)
	}
	places := map[string]string{}
	for path, content := range files {
		places[when+": the state file "+path] = content
	}
	for _, leak := range secretLeaks(slices.Values(values), places) {
		t.Error(leak)
	}
	t.Logf("%s: %d secret value(s), in neither form in %d state file(s)", when, len(values), len(files))
}
