package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"
)

func stepEvent(op apitype.OpType, urn string) apitype.StepEventMetadata {
	return apitype.StepEventMetadata{Op: op, URN: urn, New: &apitype.StepEventStateMetadata{URN: urn, Custom: true, Type: "kubernetes:core/v1:ConfigMap"}}
}

func TestCreateWatchKeepsTheCreatesThatDidNotSucceed(t *testing.T) {
	ch := make(chan events.EngineEvent)
	w := watchCreates(ch)
	for _, e := range []apitype.EngineEvent{
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: stepEvent(apitype.OpCreate, "urn:b")}},
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: stepEvent(apitype.OpCreate, "urn:ok")}},
		{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: stepEvent(apitype.OpCreate, "urn:ok")}},
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: stepEvent(apitype.OpCreateReplacement, "urn:a")}},
		{ResOpFailedEvent: &apitype.ResOpFailedEvent{Metadata: stepEvent(apitype.OpCreateReplacement, "urn:a")}},
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: stepEvent(apitype.OpCreate, "urn:planned"), Planning: true}},
		{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: stepEvent(apitype.OpUpdate, "urn:updated")}},
		{ResOpFailedEvent: &apitype.ResOpFailedEvent{Metadata: stepEvent(apitype.OpUpdate, "urn:updated")}},
	} {
		ch <- events.EngineEvent{EngineEvent: e}
	}
	close(ch)
	var urns []string
	for _, m := range w.unfinished(time.Second) {
		urns = append(urns, m.URN)
	}
	if strings.Join(urns, " ") != "urn:a urn:b" {
		t.Errorf("unfinished creates %v, want the failed urn:a and the unfinished urn:b", urns)
	}
}

func TestCreateWatchDoesNotWaitForAStreamThatNeverEnds(t *testing.T) {
	ch := make(chan events.EngineEvent)
	w := watchCreates(ch)
	ch <- events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: stepEvent(apitype.OpCreate, "urn:x")}}}
	start := time.Now()
	if got := w.unfinished(50 * time.Millisecond); len(got) != 1 || time.Since(start) > 5*time.Second {
		t.Errorf("unfinished = %v after %s", got, time.Since(start))
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
	out, added, err := addPendingCreates(json.RawMessage(state), creates)
	if err != nil {
		t.Fatalf("addPendingCreates: %v", err)
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
	_, resolutions, err := resolvePending(out)
	if err != nil {
		t.Fatalf("resolvePending: %v", err)
	}
	var adopted []string
	for _, r := range resolutions {
		if r.adopted {
			adopted = append(adopted, r.id)
		}
	}
	if strings.Join(adopted, " ") != "nexios-dev/svc-1 nexios-dev/nexios-env-2" {
		t.Errorf("recover adopted %v; resolutions %v", adopted, resolutions)
	}

	if unchanged, added, err := addPendingCreates(json.RawMessage(state), creates[1:2]); err != nil || len(added) != 0 || string(unchanged) != state {
		t.Errorf("a create the state tracks: added %v, %v", added, err)
	}
	for _, bad := range []string{``, `null`, `{"pending_operations": 3}`, `{"resources": [7]}`} {
		if _, _, err := addPendingCreates(json.RawMessage(bad), creates); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
