package props

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

func TestUnknownAndStrings(t *testing.T) {
	unknown := resource.MakeComputed(resource.NewStringProperty(""))
	m := Map(resource.NewPropertyMapFromMap(map[string]any{
		"metadata": map[string]any{
			"labels":    map[string]any{"app": "nexios", "tier": resource.MakeSecret(resource.NewStringProperty("web")), "later": unknown},
			"namespace": resource.MakeSecret(unknown),
		},
		"spec": map[string]any{
			"template":   unknown,
			"containers": []any{map[string]any{"image": "app:1.0"}},
			"selector":   resource.NewOutputProperty(resource.Output{Element: resource.NewStringProperty("known"), Known: true}),
			"replicas":   resource.NewOutputProperty(resource.Output{Known: false}),
		},
	}))
	tests := []struct {
		path    string
		unknown bool
		str     string
	}{
		{"metadata.labels.later", true, ""},
		{"metadata.namespace", true, ""}, // a secret whose value is unknown
		{"spec.template", true, ""},
		{"spec.template.spec.containers[0].image", true, ""}, // below an unknown value
		{"spec.containers[0].image", false, "app:1.0"},
		{"spec.containers[1].image", false, ""}, // absent: known not to be there
		{"spec.selector", false, "known"},       // a known output reads through
		{"spec.replicas", true, ""},
		{"metadata.labels.tier", false, "web"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := m.Unknown(tt.path); got != tt.unknown {
				t.Errorf("Unknown = %v, want %v", got, tt.unknown)
			}
			if got := m.String(tt.path); got != tt.str {
				t.Errorf("String = %q, want %q", got, tt.str)
			}
		})
	}
	labels := m.Strings("metadata.labels")
	if len(labels) != 2 || labels["app"] != "nexios" || labels["tier"] != "web" {
		t.Errorf("Strings = %v, want the two known labels", labels)
	}
}
