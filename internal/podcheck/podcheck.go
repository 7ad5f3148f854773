// Package podcheck asserts what every pod the program renders must satisfy, on the inputs the mocks
// recorded for a workload's pod spec: bounded local ephemeral storage, and the `restricted` Pod
// Security Standard where its namespace enforces it. The components' tests run it on each workload;
// the checks themselves are internal/podspec's, which the pipeline's policy checks share.
package podcheck

import (
	"testing"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
	"github.com/nexios-labs/nexios-k8s/internal/podspec"
)

// TemplateSpec is where Deployments, StatefulSets, DaemonSets and Jobs keep their pod spec.
const TemplateSpec = podspec.TemplateSpec

// Workloads returns every Deployment, StatefulSet, DaemonSet and Job the mocks recorded, by type and
// then by name.
func Workloads(m *mocktest.Mocks) []mocktest.Resource {
	var out []mocktest.Resource
	for _, typ := range podspec.WorkloadTypes {
		out = append(out, m.OfType(typ)...)
	}
	return out
}

// EphemeralStorage fails the test for each problem podspec.EphemeralStorage finds in the pod spec at
// spec: a container or init container without an ephemeral-storage request and limit, an emptyDir
// without a sizeLimit, limits that do not cover the emptyDirs and the containers' logs.
func EphemeralStorage(t testing.TB, r mocktest.Resource, spec string) {
	t.Helper()
	for _, problem := range podspec.EphemeralStorage(r.Props(), spec) {
		t.Errorf("%s %s: %s", r.Type, r.Name, problem)
	}
}

// Restricted fails the test for each way podspec.Restricted finds the pod spec at spec breaking the
// `restricted` Pod Security Standard.
func Restricted(t testing.TB, r mocktest.Resource, spec string) {
	t.Helper()
	for _, problem := range podspec.Restricted(r.Props(), spec) {
		t.Errorf("%s %s is not restricted: %s", r.Type, r.Name, problem)
	}
}
