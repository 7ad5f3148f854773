package podspec

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/nexios-labs/nexios-k8s/internal/props"
)

// workload wraps a pod spec, written as plain maps, into a workload's inputs.
func workload(spec map[string]any) props.Map {
	return props.Map(resource.NewPropertyMapFromMap(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": spec}}}))
}

func container(name, request, limit string) map[string]any {
	resources := map[string]any{"requests": map[string]any{}, "limits": map[string]any{}}
	if request != "" {
		resources["requests"].(map[string]any)["ephemeral-storage"] = request
	}
	if limit != "" {
		resources["limits"].(map[string]any)["ephemeral-storage"] = limit
	}
	return map[string]any{"name": name, "resources": resources}
}

// unknown is a value a preview does not know yet.
var unknown = resource.MakeComputed(resource.NewStringProperty(""))

// unknownLimit makes a container's ephemeral-storage limit unknown.
func unknownLimit(c map[string]any) map[string]any {
	c["resources"].(map[string]any)["limits"].(map[string]any)["ephemeral-storage"] = unknown
	return c
}

func emptyDir(name, size, medium string) map[string]any {
	dir := map[string]any{}
	if size != "" {
		dir["sizeLimit"] = size
	}
	if medium != "" {
		dir["medium"] = medium
	}
	return map[string]any{"name": name, "emptyDir": dir}
}

func TestEphemeralStorage(t *testing.T) {
	tests := []struct {
		name string
		spec map[string]any
		want string // a substring of an expected failure; empty for none
	}{
		{"bounded", map[string]any{
			"initContainers": []any{container("init", "64Mi", "128Mi")},
			"containers":     []any{container("main", "128Mi", "256Mi")},
			"volumes":        []any{emptyDir("tmp", "64Mi", ""), emptyDir("secrets", "1Mi", "Memory")},
		}, ""},
		{"no request", map[string]any{"containers": []any{container("main", "", "256Mi")}}, "want both"},
		{"no limit on an init container", map[string]any{
			"initContainers": []any{container("init", "64Mi", "")},
			"containers":     []any{container("main", "64Mi", "128Mi")},
		}, "container init"},
		{"request above limit", map[string]any{"containers": []any{container("main", "256Mi", "128Mi")}}, "above its limit"},
		{"no room for logs", map[string]any{"containers": []any{container("main", "16Mi", "32Mi")}}, "no room for its"},
		{"unbounded emptyDir", map[string]any{
			"containers": []any{container("main", "64Mi", "1Gi")},
			"volumes":    []any{emptyDir("data", "", "")},
		}, `emptyDir "data" has no sizeLimit`},
		{"emptyDirs beyond the limits", map[string]any{
			"containers": []any{container("main", "64Mi", "128Mi")},
			"volumes":    []any{emptyDir("data", "200Mi", "")},
		}, "total 128 Mi, below the 250 Mi"},
		{"no containers", map[string]any{}, "no containers"},
		// A preview does not know every value yet: an unknown one is no problem, and the cover
		// cannot be judged without it.
		{"unknown limit", map[string]any{"containers": []any{container("main", "64Mi", "")}}, "want both"},
		{"unknown limit in a preview", map[string]any{"containers": []any{unknownLimit(container("main", "64Mi", ""))}}, ""},
		{"unknown sizeLimit in a preview", map[string]any{
			"containers": []any{container("main", "64Mi", "128Mi")},
			"volumes":    []any{map[string]any{"name": "data", "emptyDir": map[string]any{"sizeLimit": unknown}}},
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectFailure(t, EphemeralStorage(workload(tt.spec), TemplateSpec), tt.want)
		})
	}
}

func restrictedContainer(name string) map[string]any {
	return map[string]any{
		"name": name,
		"securityContext": map[string]any{
			"allowPrivilegeEscalation": false,
			"capabilities":             map[string]any{"drop": []any{"ALL"}},
		},
	}
}

func TestRestricted(t *testing.T) {
	pod := func(change func(spec map[string]any)) map[string]any {
		spec := map[string]any{
			"securityContext": map[string]any{"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": map[string]any{"type": "RuntimeDefault"}},
			"initContainers":  []any{restrictedContainer("init")},
			"containers":      []any{restrictedContainer("main")},
			"volumes":         []any{emptyDir("tmp", "64Mi", ""), map[string]any{"name": "config", "configMap": map[string]any{"name": "c"}}},
		}
		if change != nil {
			change(spec)
		}
		return spec
	}
	securityContext := func(spec map[string]any, list string) map[string]any {
		return spec[list].([]any)[0].(map[string]any)["securityContext"].(map[string]any)
	}
	tests := []struct {
		name string
		spec map[string]any
		want string
	}{
		{"restricted", pod(nil), ""},
		{"host path", pod(func(s map[string]any) {
			s["volumes"] = append(s["volumes"].([]any), map[string]any{"name": "varlog", "hostPath": map[string]any{"path": "/var/log"}})
		}), `volume "varlog" is a hostPath`},
		{"host network", pod(func(s map[string]any) { s["hostNetwork"] = true }), "hostNetwork"},
		{"root pod", pod(func(s map[string]any) { s["securityContext"].(map[string]any)["runAsUser"] = 0 }), "the pod runs as root"},
		{"root container", pod(func(s map[string]any) { securityContext(s, "containers")["runAsUser"] = 0 }), "container main runs as root"},
		{"non-root not required", pod(func(s map[string]any) { delete(s["securityContext"].(map[string]any), "runAsNonRoot") }), "may run as root"},
		{"escalation in an init container", pod(func(s map[string]any) {
			delete(securityContext(s, "initContainers"), "allowPrivilegeEscalation")
		}), "container init does not forbid privilege escalation"},
		{"privileged", pod(func(s map[string]any) { securityContext(s, "containers")["privileged"] = true }), "is privileged"},
		{"capabilities kept", pod(func(s map[string]any) { delete(securityContext(s, "containers"), "capabilities") }), "keeps its capabilities"},
		{"capability added", pod(func(s map[string]any) {
			securityContext(s, "containers")["capabilities"] = map[string]any{"drop": []any{"ALL"}, "add": []any{"SYS_ADMIN"}}
		}), "adds SYS_ADMIN"},
		{"no seccomp", pod(func(s map[string]any) { delete(s["securityContext"].(map[string]any), "seccompProfile") }), "seccomp profile"},
		{"unknown security context in a preview", pod(func(s map[string]any) {
			s["containers"].([]any)[0].(map[string]any)["securityContext"] = unknown
		}), ""},
		{"unknown seccomp profile in a preview", pod(func(s map[string]any) { s["securityContext"].(map[string]any)["seccompProfile"] = unknown }), ""},
		{"host port", pod(func(s map[string]any) {
			s["containers"].([]any)[0].(map[string]any)["ports"] = []any{map[string]any{"containerPort": 80, "hostPort": 80}}
		}), "binds a host port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectFailure(t, Restricted(workload(tt.spec), TemplateSpec), tt.want)
		})
	}
}

// expectFailure checks that a check failed with want among its failures, or not at all when want is
// empty. One fault may fail several checks (a container without a limit also leaves the pod's total
// short), so the others are allowed.
func expectFailure(t *testing.T, errors []string, want string) {
	t.Helper()
	if want == "" {
		if len(errors) > 0 {
			t.Errorf("unexpected failures: %q", errors)
		}
		return
	}
	for _, e := range errors {
		if strings.Contains(e, want) {
			return
		}
	}
	t.Errorf("failures %q, want one containing %q", errors, want)
}
