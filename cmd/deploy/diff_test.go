package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"
)

func state(inputs map[string]any) *apitype.StepEventStateMetadata {
	return &apitype.StepEventStateMetadata{Inputs: inputs}
}

// secretObject is a secret as the engine serialises it in some events.
func secretObject(plaintext string) map[string]any {
	return map[string]any{sig.Key: sig.Secret, "plaintext": plaintext}
}

func TestNewResourceChange(t *testing.T) {
	tests := []struct {
		name    string
		meta    apitype.StepEventMetadata
		want    []propertyChange
		reasons []string
	}{
		{
			name: "nested paths with old and new values",
			meta: apitype.StepEventMetadata{
				Op: apitype.OpUpdate, URN: urn(configMapType, "env"), Type: configMapType,
				Old:          state(map[string]any{"data": map[string]any{"LOG_LEVEL": "debug", "app.mode": "a"}}),
				New:          state(map[string]any{"data": map[string]any{"LOG_LEVEL": "info", "NEW": "x"}}),
				DetailedDiff: map[string]apitype.PropertyDiff{"data.LOG_LEVEL": {Kind: apitype.DiffUpdate}, `data["app.mode"]`: {Kind: apitype.DiffDelete}, "data.NEW": {Kind: apitype.DiffAdd}},
			},
			want: []propertyChange{
				{Path: "data.LOG_LEVEL", Kind: "update", Old: "debug", New: "info"},
				{Path: "data.NEW", Kind: "add", New: "x"},
				{Path: `data["app.mode"]`, Kind: "delete", Old: "a"},
			},
		},
		{
			name: "list index, and the unknown sentinel in words",
			meta: apitype.StepEventMetadata{
				Op: apitype.OpUpdate, URN: urn(deploymentType, "app"), Type: deploymentType,
				Old:          state(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"image": "app:1"}}}}}}),
				New:          state(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"image": sig.UnknownStringValue}}}}}}),
				DetailedDiff: map[string]apitype.PropertyDiff{"spec.template.spec.containers[0].image": {Kind: apitype.DiffUpdate}},
			},
			want: []propertyChange{{Path: "spec.template.spec.containers[0].image", Kind: "update", Old: "app:1", New: unknownValue}},
		},
		{
			name: "a masked secret on the path hides both values",
			meta: apitype.StepEventMetadata{
				Op: apitype.OpUpdate, URN: urn("kubernetes:core/v1:Secret", "env"), Type: "kubernetes:core/v1:Secret",
				Old:          state(map[string]any{"data": secretMask}),
				New:          state(map[string]any{"data": map[string]any{"SECRET_KEY": "bmV3"}}),
				DetailedDiff: map[string]apitype.PropertyDiff{"data.SECRET_KEY": {Kind: apitype.DiffUpdate}},
			},
			want: []propertyChange{{Path: "data.SECRET_KEY", Kind: "update", Secret: true}},
		},
		{
			name: "a secret object inside the new value hides the old one too",
			meta: apitype.StepEventMetadata{
				Op: apitype.OpUpdate, URN: urn("kubernetes:core/v1:Secret", "env"), Type: "kubernetes:core/v1:Secret",
				Old:          state(map[string]any{"data": map[string]any{"KEY": "b2xk"}}),
				New:          state(map[string]any{"data": map[string]any{"KEY": secretObject("hunter2")}}),
				DetailedDiff: map[string]apitype.PropertyDiff{"data": {Kind: apitype.DiffUpdate}},
			},
			want: []propertyChange{{Path: "data", Kind: "update", Secret: true}},
		},
		{
			name: "replace: the forcing property and the reasons",
			meta: apitype.StepEventMetadata{
				Op: apitype.OpReplace, URN: urn(namespaceType, "ns"), Type: namespaceType, Keys: []string{"metadata.name"},
				Old:          state(map[string]any{"metadata": map[string]any{"name": "nexios-dev"}}),
				New:          state(map[string]any{"metadata": map[string]any{"name": "nexios-moved"}}),
				DetailedDiff: map[string]apitype.PropertyDiff{"metadata.name": {Kind: apitype.DiffUpdateReplace}},
			},
			want:    []propertyChange{{Path: "metadata.name", Kind: "update", ForcesReplace: true, Old: "nexios-dev", New: "nexios-moved"}},
			reasons: []string{"metadata.name"},
		},
		{
			name: "a refresh's result without a detailed diff: the changed input keys",
			meta: apitype.StepEventMetadata{
				Op: apitype.OpUpdate, URN: urn(configMapType, "env"), Type: configMapType,
				Old: state(map[string]any{"data": map[string]any{"A": "1"}, "kind": "ConfigMap"}),
				New: state(map[string]any{"data": map[string]any{"A": "2"}, "kind": "ConfigMap"}),
			},
			want: []propertyChange{{Path: "data", Kind: "update", Old: map[string]any{"A": "1"}, New: map[string]any{"A": "2"}}},
		},
		{
			name: "a delete has no property changes",
			meta: apitype.StepEventMetadata{Op: apitype.OpDelete, URN: urn(serviceType, "app"), Type: serviceType, Old: state(map[string]any{"spec": map[string]any{}})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newResourceChange(tt.meta)
			if !reflect.DeepEqual(got.Changes, tt.want) {
				t.Errorf("changes:\n got %+v\nwant %+v", got.Changes, tt.want)
			}
			if !reflect.DeepEqual(got.ReplaceReasons, tt.reasons) {
				t.Errorf("replace reasons %v, want %v", got.ReplaceReasons, tt.reasons)
			}
			if got.URN != tt.meta.URN || got.Operation != string(tt.meta.Op) || got.Type != tt.meta.Type {
				t.Errorf("identity %s %s %s, want %s %s %s", got.URN, got.Operation, got.Type, tt.meta.URN, tt.meta.Op, tt.meta.Type)
			}
			raw, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{"hunter2", "bmV3", "b2xk"} {
				if strings.Contains(string(raw), secret) {
					t.Errorf("secret %q in the JSON: %s", secret, raw)
				}
			}
		})
	}
}

func TestPropertyChangeText(t *testing.T) {
	tests := []struct {
		change propertyChange
		want   string
	}{
		{propertyChange{Path: "spec.replicas", Kind: "update", Old: 1.0, New: 3.0}, "spec.replicas: 1 -> 3"},
		{propertyChange{Path: "data.A", Kind: "add", New: "x"}, `data.A: added "x"`},
		{propertyChange{Path: "data.A", Kind: "delete", Old: "x"}, `data.A: removed (was "x")`},
		{propertyChange{Path: "data", Kind: "update", Secret: true}, "data: update (secret, value not shown)"},
		{propertyChange{Path: "data", Kind: "update", Old: strings.Repeat("a", 200), New: "b"}, `data: "` + strings.Repeat("a", 119) + `… -> "b"`},
	}
	for _, tt := range tests {
		if got := tt.change.text(); got != tt.want {
			t.Errorf("text() = %q, want %q", got, tt.want)
		}
	}
}
