package podcheck

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

// recorder is a testing.TB that keeps the failures instead of failing, so the assertions themselves
// can be tested on specs that must fail them.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// The assertions fail the test once per problem internal/podspec finds, naming the workload (the
// checks themselves are tested there).
func TestAssertionsNameTheWorkload(t *testing.T) {
	root := map[string]any{"name": "main", "securityContext": map[string]any{"runAsUser": 0}}
	bounded := map[string]any{"name": "main", "resources": map[string]any{
		"requests": map[string]any{"ephemeral-storage": "64Mi"}, "limits": map[string]any{"ephemeral-storage": "128Mi"}}}
	tests := []struct {
		name      string
		container map[string]any
		check     func(testing.TB, mocktest.Resource, string)
		want      []string
	}{
		{"restricted fails", root, Restricted, []string{"kubernetes:apps/v1:StatefulSet w is not restricted: container main runs as root"}},
		{"ephemeral storage fails", root, EphemeralStorage, []string{`kubernetes:apps/v1:StatefulSet w: container main: ephemeral-storage request "" and limit "", want both`}},
		{"ephemeral storage passes", bounded, EphemeralStorage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mocktest.Resource{Type: "kubernetes:apps/v1:StatefulSet", Name: "w", Inputs: resource.NewPropertyMapFromMap(map[string]any{
				"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{tt.container}}}},
			})}
			r := &recorder{TB: t}
			tt.check(r, w, TemplateSpec)
			for _, want := range tt.want {
				found := false
				for _, e := range r.errors {
					found = found || strings.Contains(e, want)
				}
				if !found {
					t.Errorf("failures %q, want one containing %q", r.errors, want)
				}
			}
			if len(tt.want) == 0 && len(r.errors) > 0 {
				t.Errorf("unexpected failures: %q", r.errors)
			}
		})
	}
}
