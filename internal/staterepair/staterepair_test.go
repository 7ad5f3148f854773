package staterepair

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"
)

const (
	stackURN     = "urn:pulumi:dev::nexios::pulumi:pulumi:Stack::nexios-dev"
	providerURN  = "urn:pulumi:dev::nexios::pulumi:providers:kubernetes::default_4_25_0"
	appURN       = "urn:pulumi:dev::nexios::nexios:components:App::nexios"
	namespaceURN = "urn:pulumi:dev::nexios::nexios:components:App$kubernetes:core/v1:Namespace::nexios-ns"
	serviceURN   = "urn:pulumi:dev::nexios::nexios:components:App$kubernetes:core/v1:Service::nexios-service"
	configURN    = "urn:pulumi:dev::nexios::nexios:components:App$kubernetes:core/v1:ConfigMap::nexios-env"
)

// syntheticState is a stack export's deployment as an up killed mid-way leaves it: the resources that
// completed, and the operations in flight.
const syntheticState = `{
  "manifest": {"time": "2026-12-01T05:00:00Z", "magic": "m", "version": "v3.274.1"},
  "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:abc"}},
  "resources": [
    {"urn": "` + stackURN + `", "custom": false, "type": "pulumi:pulumi:Stack"},
    {"urn": "` + providerURN + `", "custom": true, "id": "prov-1", "type": "pulumi:providers:kubernetes", "parent": "` + stackURN + `"},
    {"urn": "` + appURN + `", "custom": false, "type": "nexios:components:App", "parent": "` + stackURN + `"},
    {"urn": "` + namespaceURN + `", "custom": true, "id": "nexios-dev", "type": "kubernetes:core/v1:Namespace",
     "parent": "` + appURN + `", "provider": "` + providerURN + `::prov-1", "inputs": {"metadata": {"name": "nexios-dev"}}},
    {"urn": "` + configURN + `", "custom": true, "id": "nexios-dev/nexios-env-old", "type": "kubernetes:core/v1:ConfigMap",
     "parent": "` + appURN + `", "provider": "` + providerURN + `::prov-1", "additionalSecretOutputs": ["data"]}
  ],
  "pending_operations": [
    {"type": "creating", "resource": {"urn": "` + serviceURN + `", "custom": true, "type": "kubernetes:core/v1:Service",
      "parent": "` + appURN + `", "provider": "` + providerURN + `::prov-1", "dependencies": ["` + namespaceURN + `"],
      "inputs": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nexios-service-1a2b", "namespace": "nexios-dev",
        "annotations": {"secret": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:CIPHER"}}}}}},
    {"type": "creating", "resource": {"urn": "urn:pulumi:dev::nexios::kubernetes:core/v1:Namespace::monitoring", "custom": true,
      "type": "kubernetes:core/v1:Namespace", "parent": "` + stackURN + `", "provider": "` + providerURN + `::prov-1",
      "inputs": {"metadata": {"name": "monitoring"}}}},
    {"type": "creating", "resource": {"urn": "urn:pulumi:dev::nexios::random:index/randomPassword:RandomPassword::key", "custom": true,
      "type": "random:index/randomPassword:RandomPassword", "parent": "` + stackURN + `"}},
    {"type": "updating", "resource": {"urn": "` + namespaceURN + `", "custom": true, "id": "nexios-dev", "type": "kubernetes:core/v1:Namespace"}},
    {"type": "creating", "resource": {"urn": "urn:pulumi:dev::nexios::kubernetes:core/v1:Secret::hidden", "custom": true,
      "type": "kubernetes:core/v1:Secret", "parent": "` + stackURN + `", "provider": "` + providerURN + `::prov-1",
      "inputs": {"metadata": {"name": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:X"}}}}},
    {"type": "creating", "resource": {"urn": "urn:pulumi:dev::nexios::kubernetes:core/v1:Secret::orphan", "custom": true,
      "type": "kubernetes:core/v1:Secret", "parent": "` + stackURN + `", "provider": "urn:pulumi:dev::nexios::pulumi:providers:kubernetes::gone::p2",
      "inputs": {"metadata": {"name": "orphan-1", "namespace": "nexios-dev"}}}},
    {"type": "creating", "resource": {"urn": "` + namespaceURN + `", "custom": true, "type": "kubernetes:core/v1:Namespace",
      "parent": "` + appURN + `", "provider": "` + providerURN + `::prov-1", "inputs": {"metadata": {"name": "nexios-dev"}}}},
    {"type": "creating", "resource": {"urn": "` + configURN + `", "custom": true, "type": "kubernetes:core/v1:ConfigMap",
      "parent": "` + appURN + `", "provider": "` + providerURN + `::prov-1",
      "inputs": {"metadata": {"name": "nexios-env-new", "namespace": "nexios-dev"}}}},
    {"type": "creating", "resource": {"urn": "urn:pulumi:dev::nexios::kubernetes:core/v1:Secret::odd", "custom": true,
      "type": "kubernetes:core/v1:Secret", "parent": "` + stackURN + `", "inputs": {"metadata": ["odd"]}}},
    {"type": "creating", "resource": {"urn": "urn:pulumi:dev::nexios::aws:s3/bucket:Bucket::b", "custom": true,
      "type": "aws:s3/bucket:Bucket", "parent": "` + stackURN + `"}}
  ]
}`

func TestResolvePendingAdoptsKubernetesCreatesAndDropsTheRest(t *testing.T) {
	out, resolutions, err := ResolvePending(json.RawMessage(syntheticState))
	if err != nil {
		t.Fatalf("ResolvePending: %v", err)
	}
	var got struct {
		Manifest          map[string]any   `json:"manifest"`
		SecretsProviders  map[string]any   `json:"secrets_providers"`
		Resources         []map[string]any `json:"resources"`
		PendingOperations []any            `json:"pending_operations"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("the repaired state is not JSON: %v", err)
	}
	if got.PendingOperations != nil || strings.Contains(string(out), "pending_operations") {
		t.Errorf("pending operations remain: %v", got.PendingOperations)
	}
	if got.Manifest["magic"] != "m" || got.SecretsProviders["type"] != "passphrase" {
		t.Errorf("the deployment's other fields changed: %v %v", got.Manifest, got.SecretsProviders)
	}

	// What each operation became, in order.
	want := []struct {
		urn, id string
		adopted bool
		note    string
	}{
		{serviceURN, "nexios-dev/nexios-service-1a2b", true, "the refresh reads it"},
		{"urn:pulumi:dev::nexios::kubernetes:core/v1:Namespace::monitoring", "monitoring", true, "the refresh reads it"},
		{"urn:pulumi:dev::nexios::random:index/randomPassword:RandomPassword::key", "", false, "random value"},
		{namespaceURN, "", false, "read back by the refresh"},
		{"urn:pulumi:dev::nexios::kubernetes:core/v1:Secret::hidden", "", false, "no plain metadata.name"},
		{"urn:pulumi:dev::nexios::kubernetes:core/v1:Secret::orphan", "", false, "refers to urn:pulumi:dev::nexios::pulumi:providers:kubernetes::gone, not in the state; if its object nexios-dev/orphan-1 exists"},
		{namespaceURN, "", false, "already tracks it"},
		{configURN, "nexios-dev/nexios-env-new", true, "the object it was replacing is deleted by the next up"},
		{"urn:pulumi:dev::nexios::kubernetes:core/v1:Secret::odd", "", false, "its inputs cannot be read"},
		{"urn:pulumi:dev::nexios::aws:s3/bucket:Bucket::b", "", false, "cannot look aws objects up"},
	}
	if len(resolutions) != len(want) {
		t.Fatalf("%d resolutions, want %d: %v", len(resolutions), len(want), resolutions)
	}
	for i, w := range want {
		r := resolutions[i]
		if r.URN != w.urn || r.ID != w.id || r.Adopted != w.adopted || !strings.Contains(r.String(), w.note) {
			t.Errorf("resolution %d = %q (adopted %v, id %q), want %s adopted=%v id %q noting %q", i, r, r.Adopted, r.ID, w.urn, w.adopted, w.id, w.note)
		}
	}

	// The adopted resources follow every resource they refer to, carry their object's ID and the mark
	// the refresh clears, and keep their inputs (secrets as ciphertext).
	if len(got.Resources) != 8 {
		t.Fatalf("%d resources, want the 5 tracked and 3 adopted", len(got.Resources))
	}
	byID := map[string]map[string]any{}
	for _, r := range got.Resources[5:] {
		id, _ := r["id"].(string)
		byID[id] = r
		if errs, _ := r["initErrors"].([]any); len(errs) != 1 || errs[0] != AdoptedInitError {
			t.Errorf("adopted %s: initErrors %v", id, r["initErrors"])
		}
	}
	service := byID["nexios-dev/nexios-service-1a2b"]
	if service["urn"] != serviceURN || service["provider"] != providerURN+"::prov-1" || !strings.Contains(string(out), "v1:CIPHER") {
		t.Errorf("the adopted Service lost its fields: %v", service)
	}
	old := got.Resources[4]
	if old["urn"] != configURN || old["delete"] != true || old["additionalSecretOutputs"] == nil {
		t.Errorf("the replaced ConfigMap is not marked for deletion with its fields kept: %v", old)
	}
	if _, ok := byID["nexios-dev/nexios-env-new"]; !ok {
		t.Errorf("the replacement ConfigMap is not adopted: %v", byID)
	}
}

func TestResolvePendingWithNothingPendingLeavesTheStateAlone(t *testing.T) {
	for _, state := range []string{`{"resources": []}`, `{"resources": [], "pending_operations": []}`, `{"pending_operations": null}`} {
		out, resolutions, err := ResolvePending(json.RawMessage(state))
		if err != nil || len(resolutions) != 0 || string(out) != state {
			t.Errorf("%s: got %s, %v, %v; want it unchanged", state, out, resolutions, err)
		}
	}
}

func TestResolvePendingRejectsMalformedState(t *testing.T) {
	for _, state := range []string{
		``, `null`, `[]`, `"state"`, `{"pending_operations": {}}`,
		`{"pending_operations": [{"type": "creating"}]}`,
		`{"pending_operations": [{"type": "creating", "resource": []}]}`,
		`{"pending_operations": [{"type": "creating", "resource": {"urn": 7}}]}`,
		`{"resources": {}, "pending_operations": [{"type": "creating", "resource": {"urn": "u"}}]}`,
		`{"resources": [1], "pending_operations": [{"type": "creating", "resource": {"urn": "u"}}]}`,
	} {
		if _, _, err := ResolvePending(json.RawMessage(state)); err == nil {
			t.Errorf("%q: no error", state)
		}
	}
	// Every truncation of a real state is an error or a result, never a panic.
	for i := range len(syntheticState) {
		_, _, _ = ResolvePending(json.RawMessage(syntheticState[:i]))
	}
}

func TestLeftoversCountsPendingAndUnreadAdoptions(t *testing.T) {
	repaired, _, err := ResolvePending(json.RawMessage(syntheticState))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		state           string
		pending, unread int
	}{
		{syntheticState, 10, 0},
		{string(repaired), 0, 3},
		{`{"resources": [{"urn": "u", "initErrors": ["the pods never became ready"]}]}`, 0, 0},
		{`{}`, 0, 0},
	} {
		pending, unread, err := Leftovers(json.RawMessage(tt.state))
		if err != nil || pending != tt.pending || unread != tt.unread {
			t.Errorf("Leftovers = %d pending, %d unread, %v; want %d, %d", pending, unread, err, tt.pending, tt.unread)
		}
	}
	if _, _, err := Leftovers(json.RawMessage(`{"resources": 1}`)); err == nil {
		t.Error("malformed state: no error")
	}
}

func TestCancelledCreatesBecomePendingCreatesThatRecoverAdopts(t *testing.T) {
	state := `{
	  "resources": [
	    {"urn": "` + stackURN + `", "custom": false, "type": "pulumi:pulumi:Stack"},
	    {"urn": "` + providerURN + `", "custom": true, "id": "prov-1", "type": "pulumi:providers:kubernetes"},
	    {"urn": "` + configURN + `", "custom": true, "id": "nexios-dev/nexios-env-1", "type": "kubernetes:core/v1:ConfigMap",
	     "parent": "` + stackURN + `", "provider": "` + providerURN + `::prov-1"}
	  ],
	  "pending_operations": [
	    {"type": "creating", "resource": {"urn": "urn:pending", "custom": true, "type": "kubernetes:core/v1:Secret"}}
	  ]
	}`
	create := func(urn, typ string, inputs map[string]any) apitype.StepEventStateMetadata {
		return apitype.StepEventStateMetadata{URN: urn, Type: typ, Custom: true, Parent: stackURN, Provider: providerURN + "::prov-1", Inputs: inputs}
	}
	// As the event stream carries them: checked by the provider (autonamed), secrets blinded.
	blinded := map[string]any{sig.Key: sig.Secret, "ciphertext": "[secret]"}
	named := func(name string) map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"k": blinded, "plain": "v"},
			"metadata": map[string]any{"name": name, "namespace": "nexios-dev", "labels": map[string]any{"a": "b"},
				"annotations": map[string]any{"pulumi.com/autonamed": "true"}}}
	}
	creates := []apitype.StepEventStateMetadata{
		create(serviceURN, "kubernetes:core/v1:Service", map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "svc-1", "namespace": "nexios-dev"}}),
		create(configURN, "kubernetes:core/v1:ConfigMap", named("nexios-env-1")), // the state tracks it
		create(configURN, "kubernetes:core/v1:ConfigMap", named("nexios-env-2")), // its replacement
		create("urn:pending", "kubernetes:core/v1:Secret", named("s")),           // already pending
		create("urn:random", "random:index/randomPassword:RandomPassword", nil),
		create("urn:unnamed", "kubernetes:core/v1:Secret", map[string]any{"metadata": map[string]any{}}),
	}
	out, added, err := AddPendingCreates(json.RawMessage(state), creates)
	if err != nil {
		t.Fatalf("AddPendingCreates: %v", err)
	}
	if strings.Join(added, " ") != serviceURN+" "+configURN {
		t.Errorf("added %v, want the Service and the ConfigMap's replacement", added)
	}
	var recorded struct {
		PendingOperations []struct {
			Resource struct {
				URN    string         `json:"urn"`
				Inputs map[string]any `json:"inputs"`
			} `json:"resource"`
		} `json:"pending_operations"`
	}
	if err := json.Unmarshal(out, &recorded); err != nil {
		t.Fatal(err)
	}
	wantInputs := named("nexios-env-2")
	wantInputs["data"] = map[string]any{"k": map[string]any{sig.Key: sig.Secret, "plaintext": `"[secret]"`}, "plain": "v"}
	for _, op := range recorded.PendingOperations {
		if op.Resource.URN == configURN && !reflect.DeepEqual(op.Resource.Inputs, wantInputs) {
			t.Errorf("recorded inputs of the ConfigMap:\n%v\nwant the create's own, the secret a placeholder:\n%v", op.Resource.Inputs, wantInputs)
		}
	}
	if strings.Contains(string(out), "ciphertext") {
		t.Errorf("a blinded secret was recorded, which no key decrypts:\n%s", out)
	}

	// recover resolves them like a killed run's.
	_, resolutions, err := ResolvePending(out)
	if err != nil {
		t.Fatalf("ResolvePending: %v", err)
	}
	var adopted []string
	for _, r := range resolutions {
		if r.Adopted {
			adopted = append(adopted, r.ID)
		}
	}
	if strings.Join(adopted, " ") != "nexios-dev/svc-1 nexios-dev/nexios-env-2" {
		t.Errorf("recover adopted %v; resolutions %v", adopted, resolutions)
	}

	if unchanged, added, err := AddPendingCreates(json.RawMessage(state), creates[1:2]); err != nil || len(added) != 0 || string(unchanged) != state {
		t.Errorf("a create the state tracks: added %v, %v", added, err)
	}
	for _, bad := range []string{``, `null`, `{"pending_operations": 3}`, `{"resources": [7]}`} {
		if _, _, err := AddPendingCreates(json.RawMessage(bad), creates); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
