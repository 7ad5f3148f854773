// Package podspec checks what every pod the program renders must satisfy, on a workload's inputs:
// bounded local ephemeral storage, and the `restricted` Pod Security Standard. The components' tests
// assert it on the mocks' registrations (internal/podcheck); the pipeline's policy checks run it on the
// resources a preview registers (internal/policy). Each check returns its problems, one sentence each;
// a value a preview does not know yet is never a problem.
package podspec

import (
	"fmt"
	"slices"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/props"
)

// TemplateSpec is where Deployments, StatefulSets, DaemonSets and Jobs keep their pod spec.
const TemplateSpec = "spec.template.spec"

// WorkloadTypes are the type tokens of the workloads whose pod spec is at TemplateSpec.
var WorkloadTypes = []string{
	"kubernetes:apps/v1:Deployment",
	"kubernetes:apps/v1:StatefulSet",
	"kubernetes:apps/v1:DaemonSet",
	"kubernetes:batch/v1:Job",
}

// CronJobType keeps its Jobs' pod spec at CronJobTemplateSpec.
const (
	CronJobType         = "kubernetes:batch/v1:CronJob"
	CronJobTemplateSpec = "spec.jobTemplate.spec.template.spec"
)

// SpecOf returns where a workload of type typ keeps its pod spec: CronJobTemplateSpec for a CronJob,
// TemplateSpec for the WorkloadTypes.
func SpecOf(typ string) string {
	if typ == CronJobType {
		return CronJobTemplateSpec
	}
	return TemplateSpec
}

// Containers lists the paths of the pod spec's init containers and containers, in that order, and
// how many of them are init containers.
func Containers(p props.Map, spec string) (paths []string, inits int) {
	for _, list := range []string{"initContainers", "containers"} {
		for i := range p.Len(spec + "." + list) {
			paths = append(paths, fmt.Sprintf("%s.%s[%d]", spec, list, i))
		}
		if list == "initContainers" {
			inits = len(paths)
		}
	}
	return paths, inits
}

// problems collects findings, dropping those about a value the preview does not know yet.
type problems struct {
	p   props.Map
	out []string
}

func (ps *problems) add(path, format string, args ...any) {
	if !ps.p.Unknown(path) {
		ps.out = append(ps.out, fmt.Sprintf(format, args...))
	}
}

// EphemeralStorage returns a problem unless every container and init container of the pod spec at
// spec requests and limits ephemeral-storage (the request no larger than the limit, the limit no
// smaller than the kubelet's log allowance), every disk-backed emptyDir has a sizeLimit, and the
// containers' limits together cover those sizeLimits plus every container's logs. The kubelet evicts
// a pod whose emptyDirs and containers together exceed the sum of its containers' limits: with that
// cover, a pod is only ever evicted by the volume or container that outgrew its own bound, which the
// eviction message then names.
func EphemeralStorage(p props.Map, spec string) []string {
	ps := &problems{p: p}
	quantity := func(path, what, q string) (float64, bool) {
		v, err := kube.ParseQuantity(q)
		if err != nil {
			ps.add(path, "%s: %v", what, err)
			return 0, false
		}
		return v, true
	}
	logs, _ := kube.ParseQuantity(kube.ContainerLogAllowance)
	paths, inits := Containers(p, spec)
	if len(paths) == inits {
		ps.add(spec+".containers", "no containers at %s", spec)
		return ps.out
	}
	var limits float64
	known := true
	for i, c := range paths {
		name := "container " + p.String(c+".name")
		requestPath, limitPath := c+`.resources.requests["ephemeral-storage"]`, c+`.resources.limits["ephemeral-storage"]`
		if p.Unknown(requestPath) || p.Unknown(limitPath) {
			known = false
			continue
		}
		request, limit := p.String(requestPath), p.String(limitPath)
		if request == "" || limit == "" {
			ps.add(c, "%s: ephemeral-storage request %q and limit %q, want both", name, request, limit)
			known = false
			continue
		}
		req, okReq := quantity(requestPath, name+" request", request)
		lim, okLim := quantity(limitPath, name+" limit", limit)
		if !okReq || !okLim {
			known = false
			continue
		}
		if req > lim {
			ps.add(c, "%s: ephemeral-storage request %s above its limit %s", name, request, limit)
		}
		if lim < logs {
			ps.add(c, "%s: ephemeral-storage limit %s leaves no room for its %s of logs", name, limit, kube.ContainerLogAllowance)
		}
		// An init container has finished before the others start: the pod's limit is its regular
		// containers' sum, which must also hold what the init containers left in the volumes.
		if i >= inits {
			limits += lim
		}
	}
	need := logs * float64(len(paths)-inits)
	for i := range p.Len(spec + ".volumes") {
		v := fmt.Sprintf("%s.volumes[%d]", spec, i)
		if _, ok := p.Get(v + ".emptyDir"); !ok || p.String(v+".emptyDir.medium") == "Memory" {
			// A memory-backed emptyDir counts against the memory limit instead.
			continue
		}
		sizePath := v + ".emptyDir.sizeLimit"
		if p.Unknown(sizePath) {
			known = false
			continue
		}
		size := p.String(sizePath)
		if size == "" {
			ps.add(v, "emptyDir %q has no sizeLimit", p.String(v+".name"))
			known = false
			continue
		}
		q, ok := quantity(sizePath, "sizeLimit of "+p.String(v+".name"), size)
		known = known && ok
		need += q
	}
	// The cover is only worth comparing when every figure is known and valid; a missing one is
	// already a problem of its own.
	if known && limits < need {
		ps.add(spec, "containers' ephemeral-storage limits total %.0f Mi, below the %.0f Mi of its emptyDir sizeLimits and container logs",
			limits/(1<<20), need/(1<<20))
	}
	return ps.out
}

// allowedVolumes are the volume types the `restricted` standard admits.
var allowedVolumes = []string{"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}

// Restricted returns a problem for each way the pod spec at spec breaks the `restricted` Pod Security
// Standard as far as a spec shows it: no host namespaces, ports or paths; only the admitted volume
// types; every container non-root (by the pod or itself), without privilege or escalation, with ALL
// capabilities dropped and none added but NET_BIND_SERVICE, under the RuntimeDefault or a Localhost
// seccomp profile.
func Restricted(p props.Map, spec string) []string {
	ps := &problems{p: p}
	for _, host := range []string{"hostNetwork", "hostPID", "hostIPC"} {
		if on, _ := p.Bool(spec + "." + host); on {
			ps.add(spec+"."+host, "%s", host)
		}
	}
	for i := range p.Len(spec + ".volumes") {
		v := fmt.Sprintf("%s.volumes[%d]", spec, i)
		volume, _ := p.Get(v)
		for key := range volume.ObjectValue() {
			if key != "name" && !slices.Contains(allowedVolumes, string(key)) {
				ps.add(v, "volume %q is a %s", p.String(v+".name"), key)
			}
		}
	}
	podSC := spec + ".securityContext"
	podNonRoot, _ := p.Bool(podSC + ".runAsNonRoot")
	podSeccomp := p.String(podSC + ".seccompProfile.type")
	if p.Number(podSC+".runAsUser") == 0 {
		ps.add(podSC+".runAsUser", "the pod runs as root")
	}
	paths, _ := Containers(p, spec)
	for _, c := range paths {
		name := p.String(c + ".name")
		sc := c + ".securityContext"
		if nonRoot, set := p.Bool(sc + ".runAsNonRoot"); set && !nonRoot || !set && !podNonRoot {
			if !p.Unknown(podSC + ".runAsNonRoot") {
				ps.add(sc+".runAsNonRoot", "container %s may run as root", name)
			}
		}
		if p.Number(sc+".runAsUser") == 0 {
			ps.add(sc+".runAsUser", "container %s runs as root", name)
		}
		if privileged, _ := p.Bool(sc + ".privileged"); privileged {
			ps.add(sc+".privileged", "container %s is privileged", name)
		}
		if escalation, set := p.Bool(sc + ".allowPrivilegeEscalation"); !set || escalation {
			ps.add(sc+".allowPrivilegeEscalation", "container %s does not forbid privilege escalation", name)
		}
		dropsAll := false
		for i := range p.Len(sc + ".capabilities.drop") {
			dropsAll = dropsAll || p.String(fmt.Sprintf("%s.capabilities.drop[%d]", sc, i)) == "ALL"
		}
		if !dropsAll {
			ps.add(sc+".capabilities.drop", "container %s keeps its capabilities", name)
		}
		for i := range p.Len(sc + ".capabilities.add") {
			if added := p.String(fmt.Sprintf("%s.capabilities.add[%d]", sc, i)); added != "NET_BIND_SERVICE" {
				ps.add(fmt.Sprintf("%s.capabilities.add[%d]", sc, i), "container %s adds %s", name, added)
			}
		}
		seccompPath := sc + ".seccompProfile.type"
		seccomp := p.String(seccompPath)
		if seccomp == "" {
			seccomp = podSeccomp
			if p.Unknown(podSC + ".seccompProfile.type") {
				seccompPath = podSC + ".seccompProfile.type"
			}
		}
		if seccomp != "RuntimeDefault" && seccomp != "Localhost" {
			ps.add(seccompPath, "container %s has seccomp profile %q", name, seccomp)
		}
		for i := range p.Len(c + ".ports") {
			if p.Number(fmt.Sprintf("%s.ports[%d].hostPort", c, i)) > 0 {
				ps.add(fmt.Sprintf("%s.ports[%d].hostPort", c, i), "container %s binds a host port", name)
			}
		}
	}
	return ps.out
}
