// Package podcheck asserts what every pod the program renders must satisfy, on the inputs the mocks
// recorded for a workload's pod spec: bounded local ephemeral storage, and the `restricted` Pod
// Security Standard where its namespace enforces it. The components' tests run it on each workload.
package podcheck

import (
	"fmt"
	"slices"
	"testing"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

// TemplateSpec is where Deployments, StatefulSets, DaemonSets and Jobs keep their pod spec.
const TemplateSpec = "spec.template.spec"

// workloadTypes are the type tokens of the workloads whose pod spec is at TemplateSpec.
var workloadTypes = []string{
	"kubernetes:apps/v1:Deployment",
	"kubernetes:apps/v1:StatefulSet",
	"kubernetes:apps/v1:DaemonSet",
	"kubernetes:batch/v1:Job",
}

// Workloads returns every Deployment, StatefulSet, DaemonSet and Job the mocks recorded, by type and
// then by name.
func Workloads(m *mocktest.Mocks) []mocktest.Resource {
	var out []mocktest.Resource
	for _, typ := range workloadTypes {
		out = append(out, m.OfType(typ)...)
	}
	return out
}

// containers lists the paths of the pod spec's init containers and containers, in that order, and
// how many of them are init containers.
func containers(r mocktest.Resource, spec string) (paths []string, inits int) {
	for _, list := range []string{"initContainers", "containers"} {
		for i := range r.Len(spec + "." + list) {
			paths = append(paths, fmt.Sprintf("%s.%s[%d]", spec, list, i))
		}
		if list == "initContainers" {
			inits = len(paths)
		}
	}
	return paths, inits
}

func quantity(t testing.TB, what, q string) float64 {
	t.Helper()
	v, err := kube.ParseQuantity(q)
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
	return v
}

// EphemeralStorage fails the test unless every container and init container of the pod spec at spec
// requests and limits ephemeral-storage (the request no larger than the limit, the limit no smaller
// than the kubelet's log allowance), every disk-backed emptyDir has a sizeLimit, and the containers'
// limits together cover those sizeLimits plus every container's logs. The kubelet evicts a pod whose
// emptyDirs and containers together exceed the sum of its containers' limits: with that cover, a pod
// is only ever evicted by the volume or container that outgrew its own bound, which the eviction
// message then names.
func EphemeralStorage(t testing.TB, r mocktest.Resource, spec string) {
	t.Helper()
	logs := quantity(t, "log allowance", kube.ContainerLogAllowance)
	paths, inits := containers(r, spec)
	if len(paths) == inits {
		t.Errorf("%s %s: no containers at %s", r.Type, r.Name, spec)
		return
	}
	var limits float64
	for i, c := range paths {
		name := r.Name + " container " + r.String(c+".name")
		request, limit := r.String(c+`.resources.requests["ephemeral-storage"]`), r.String(c+`.resources.limits["ephemeral-storage"]`)
		if request == "" || limit == "" {
			t.Errorf("%s: ephemeral-storage request %q and limit %q, want both", name, request, limit)
			continue
		}
		req, lim := quantity(t, name+" request", request), quantity(t, name+" limit", limit)
		if req > lim {
			t.Errorf("%s: ephemeral-storage request %s above its limit %s", name, request, limit)
		}
		if lim < logs {
			t.Errorf("%s: ephemeral-storage limit %s leaves no room for its %s of logs", name, limit, kube.ContainerLogAllowance)
		}
		// An init container has finished before the others start: the pod's limit is its regular
		// containers' sum, which must also hold what the init containers left in the volumes.
		if i >= inits {
			limits += lim
		}
	}
	need := logs * float64(len(paths)-inits)
	for i := range r.Len(spec + ".volumes") {
		v := fmt.Sprintf("%s.volumes[%d]", spec, i)
		if _, ok := r.Get(v + ".emptyDir"); !ok || r.String(v+".emptyDir.medium") == "Memory" {
			// A memory-backed emptyDir counts against the memory limit instead.
			continue
		}
		size := r.String(v + ".emptyDir.sizeLimit")
		if size == "" {
			t.Errorf("%s %s: emptyDir %q has no sizeLimit", r.Type, r.Name, r.String(v+".name"))
			continue
		}
		need += quantity(t, "sizeLimit of "+r.String(v+".name"), size)
	}
	if limits < need {
		t.Errorf("%s %s: containers' ephemeral-storage limits total %.0f Mi, below the %.0f Mi of its emptyDir sizeLimits and container logs",
			r.Type, r.Name, limits/(1<<20), need/(1<<20))
	}
}

// allowedVolumes are the volume types the `restricted` standard admits.
var allowedVolumes = []string{"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}

// Restricted fails the test unless the pod spec at spec satisfies the `restricted` Pod Security
// Standard as far as a spec shows it: no host namespaces, ports or paths; only the admitted volume
// types; every container non-root (by the pod or itself), without privilege or escalation, with ALL
// capabilities dropped and none added but NET_BIND_SERVICE, under the RuntimeDefault or a Localhost
// seccomp profile.
func Restricted(t testing.TB, r mocktest.Resource, spec string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s %s is not restricted: %s", r.Type, r.Name, fmt.Sprintf(format, args...))
	}
	for _, host := range []string{"hostNetwork", "hostPID", "hostIPC"} {
		if on, _ := r.Bool(spec + "." + host); on {
			fail("%s", host)
		}
	}
	for i := range r.Len(spec + ".volumes") {
		v := fmt.Sprintf("%s.volumes[%d]", spec, i)
		volume, _ := r.Get(v)
		for key := range volume.ObjectValue() {
			if key != "name" && !slices.Contains(allowedVolumes, string(key)) {
				fail("volume %q is a %s", r.String(v+".name"), key)
			}
		}
	}
	podNonRoot, _ := r.Bool(spec + ".securityContext.runAsNonRoot")
	podSeccomp := r.String(spec + ".securityContext.seccompProfile.type")
	if r.Number(spec+".securityContext.runAsUser") == 0 {
		fail("the pod runs as root")
	}
	paths, _ := containers(r, spec)
	for _, c := range paths {
		name := r.String(c + ".name")
		sc := c + ".securityContext"
		if nonRoot, set := r.Bool(sc + ".runAsNonRoot"); set && !nonRoot || !set && !podNonRoot {
			fail("container %s may run as root", name)
		}
		if r.Number(sc+".runAsUser") == 0 {
			fail("container %s runs as root", name)
		}
		if privileged, _ := r.Bool(sc + ".privileged"); privileged {
			fail("container %s is privileged", name)
		}
		if escalation, set := r.Bool(sc + ".allowPrivilegeEscalation"); !set || escalation {
			fail("container %s does not forbid privilege escalation", name)
		}
		dropsAll := false
		for i := range r.Len(sc + ".capabilities.drop") {
			dropsAll = dropsAll || r.String(fmt.Sprintf("%s.capabilities.drop[%d]", sc, i)) == "ALL"
		}
		if !dropsAll {
			fail("container %s keeps its capabilities", name)
		}
		for i := range r.Len(sc + ".capabilities.add") {
			if added := r.String(fmt.Sprintf("%s.capabilities.add[%d]", sc, i)); added != "NET_BIND_SERVICE" {
				fail("container %s adds %s", name, added)
			}
		}
		seccomp := r.String(sc + ".seccompProfile.type")
		if seccomp == "" {
			seccomp = podSeccomp
		}
		if seccomp != "RuntimeDefault" && seccomp != "Localhost" {
			fail("container %s has seccomp profile %q", name, seccomp)
		}
		for i := range r.Len(c + ".ports") {
			if r.Number(fmt.Sprintf("%s.ports[%d].hostPort", c, i)) > 0 {
				fail("container %s binds a host port", name)
			}
		}
	}
}
