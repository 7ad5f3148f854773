package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/podspec"
)

// The type tokens the policies read.
const (
	typeDeployment  = "kubernetes:apps/v1:Deployment"
	typeStatefulSet = "kubernetes:apps/v1:StatefulSet"
	typeNamespace   = "kubernetes:core/v1:Namespace"
	typeNetPol      = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	typePDB         = "kubernetes:policy/v1:PodDisruptionBudget"
	typeHPA         = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
)

// policies are every policy, in the order their findings print.
var policies = []policy{
	{Rule{"container-resources", "Every container and init container requests and limits CPU, memory and ephemeral storage, and its pod's ephemeral-storage limits cover its emptyDirs and logs.", Error}, containerResources},
	{Rule{"image-pinned", "No image without a tag or by the moving `latest` tag: an error in prod, a warning elsewhere.", Error}, imagePinned},
	{Rule{"pod-security-restricted", "Every pod meets the `restricted` Pod Security Standard, except in the documented privileged namespace (Fluent Bit's `<logging.namespace>-agents`).", Error}, podSecurityRestricted},
	{Rule{"disruption-budget", "Every Deployment or StatefulSet with more than one replica has a PodDisruptionBudget selecting its pods.", Error}, disruptionBudget},
	{Rule{"default-deny-ingress", "Every namespace the program creates has a NetworkPolicy that selects all its pods and denies their ingress.", Error}, defaultDenyIngress},
	{Rule{"hpa-without-replicas", "A Deployment an HPA scales never sets spec.replicas: each apply would reset the count the HPA chose.", Error}, hpaWithoutReplicas},
	{Rule{"prod-persistent-storage", "In prod, Prometheus and Elasticsearch keep their data on PersistentVolumeClaims.", Error}, prodPersistentStorage},
}

// workloads are the resources with a pod template, CronJobs included (their Jobs' pods).
func (all resources) workloads() []Resource {
	return all.ofType(append(slices.Clone(podspec.WorkloadTypes), podspec.CronJobType)...)
}

// containers returns the workload's containers' paths and names.
func containers(w Resource) map[string]string {
	paths, _ := podspec.Containers(w.Inputs, podspec.SpecOf(w.Type))
	out := map[string]string{}
	for _, c := range paths {
		out[c] = w.Inputs.String(c + ".name")
	}
	return out
}

func containerResources(_ Stack, all resources, report func(Resource, Severity, string, ...any)) {
	for _, w := range all.workloads() {
		for c, name := range containers(w) {
			for _, kind := range []string{"requests", "limits"} {
				for _, res := range []string{"cpu", "memory"} {
					path := fmt.Sprintf("%s.resources.%s.%s", c, kind, res)
					if w.Inputs.String(path) == "" && !w.Inputs.Unknown(path) {
						report(w, Error, "container %s has no %s %s; set resources.%s.%s on it (for the app, nexios:app.resources.%s.%s)", name, res, kind[:len(kind)-1], kind, res, kind, res)
					}
				}
			}
		}
		for _, problem := range podspec.EphemeralStorage(w.Inputs, podspec.SpecOf(w.Type)) {
			report(w, Error, "%s; give every container an ephemeral-storage request and limit (components/kube's Resources.WithEphemeralStorage) and every emptyDir a sizeLimit within them", problem)
		}
	}
}

// unpinned reports why an image reference is not pinned, or "" when it is: by digest, or by a tag
// other than latest.
func unpinned(image string) string {
	if strings.Contains(image, "@") {
		return ""
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, tagged := strings.Cut(name, ":")
	switch {
	case !tagged:
		return "has no tag (Kubernetes pulls `latest`)"
	case tag == "latest":
		return "uses the moving `latest` tag"
	}
	return ""
}

func imagePinned(s Stack, all resources, report func(Resource, Severity, string, ...any)) {
	severity := Warning
	if s.Prod {
		severity = Error
	}
	for _, w := range all.workloads() {
		for c, name := range containers(w) {
			image := w.Inputs.String(c + ".image")
			if image == "" {
				continue // unknown in a preview, or absent (the API server refuses that)
			}
			if why := unpinned(image); why != "" {
				report(w, severity, "container %s's image %q %s; pin a version or a digest (for the app, nexios:app.image: registry/name:1.2.3)", name, image, why)
			}
		}
	}
}

func podSecurityRestricted(s Stack, all resources, report func(Resource, Severity, string, ...any)) {
	for _, w := range all.workloads() {
		ns := w.namespace()
		if ns == "" || slices.Contains(s.PrivilegedNamespaces, ns) {
			continue // unknown yet, or the documented exception
		}
		for _, problem := range podspec.Restricted(w.Inputs, podspec.SpecOf(w.Type)) {
			report(w, Error, "not `restricted` in namespace %s: %s; give its pod and containers the restricted security contexts (components/kube's RestrictedPodSecurityContext and RestrictedContainerSecurityContext)", ns, problem)
		}
	}
}

// scaler returns the HPA that scales the workload, if any.
func (all resources) scaler(w Resource) (Resource, bool) {
	kind := w.Type[strings.LastIndex(w.Type, ":")+1:]
	name := w.Inputs.String("metadata.name")
	for _, h := range all.ofType(typeHPA) {
		if name != "" && h.namespace() == w.namespace() && h.Inputs.String("spec.scaleTargetRef.kind") == kind && h.Inputs.String("spec.scaleTargetRef.name") == name {
			return h, true
		}
	}
	return Resource{}, false
}

// selects reports whether a label selector's matchLabels are a non-empty subset of labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func disruptionBudget(_ Stack, all resources, report func(Resource, Severity, string, ...any)) {
	for _, w := range all.ofType(typeDeployment, typeStatefulSet) {
		replicas, from := w.Inputs.Number("spec.replicas"), "spec.replicas"
		unknown := w.Inputs.Unknown("spec.replicas")
		if h, ok := all.scaler(w); ok {
			replicas, from = h.Inputs.Number("spec.minReplicas"), "its HPA's minReplicas"
			unknown = h.Inputs.Unknown("spec.minReplicas")
		}
		labels := w.Inputs.Strings(`spec.template.metadata.labels`)
		if unknown || replicas <= 1 || w.Inputs.Unknown("spec.template.metadata.labels") || w.namespace() == "" {
			continue
		}
		covered := false
		for _, pdb := range all.ofType(typePDB) {
			if pdb.namespace() == w.namespace() && (pdb.Inputs.Unknown("spec.selector") || selects(pdb.Inputs.Strings("spec.selector.matchLabels"), labels)) {
				covered = true
			}
		}
		if !covered {
			report(w, Error, "%d replicas (%s) and no PodDisruptionBudget selects its pods in namespace %s; add one (for the app, nexios:app.disruptionBudget.enabled: true)", int(replicas), from, w.namespace())
		}
	}
}

// deniesAllIngress reports whether a NetworkPolicy selects every pod of its namespace, applies to
// ingress and allows none.
func deniesAllIngress(np Resource) bool {
	in := np.Inputs
	if in.Len("spec.podSelector.matchLabels") > 0 || in.Len("spec.podSelector.matchExpressions") > 0 || in.Len("spec.ingress") > 0 {
		return false
	}
	for i := range in.Len("spec.policyTypes") {
		if in.String(fmt.Sprintf("spec.policyTypes[%d]", i)) == "Ingress" {
			return true
		}
	}
	return false
}

func defaultDenyIngress(_ Stack, all resources, report func(Resource, Severity, string, ...any)) {
	for _, ns := range all.ofType(typeNamespace) {
		name := ns.Inputs.String("metadata.name")
		if name == "" {
			continue
		}
		denied := false
		for _, np := range all.ofType(typeNetPol) {
			if np.namespace() == name && (np.Inputs.Unknown("spec") || deniesAllIngress(np)) {
				denied = true
			}
		}
		if !denied {
			report(ns, Error, "namespace %s has no default-deny NetworkPolicy (an empty podSelector, policyTypes [Ingress], no ingress rules); add one (for the app, nexios:app.networkPolicy.enabled: true)", name)
		}
	}
}

func hpaWithoutReplicas(_ Stack, all resources, report func(Resource, Severity, string, ...any)) {
	for _, d := range all.ofType(typeDeployment) {
		h, ok := all.scaler(d)
		if !ok {
			continue
		}
		if _, set := d.Inputs.Get("spec.replicas"); set {
			report(d, Error, "sets spec.replicas while %s scales it, so every apply resets the replica count the HPA chose; leave spec.replicas unset (the app component does when nexios:app.autoscaling.enabled is true)", h.label())
		}
	}
}

// persistentStores are the stateful workloads that must keep their data in prod, by their
// app.kubernetes.io/name label, and the stack key that gives each a volume claim.
var persistentStores = map[string]string{
	"prometheus":    "set nexios:monitoring.storageSize (e.g. 50Gi)",
	"elasticsearch": "set nexios:logging.elasticsearch.ephemeralStorage to false",
}

func prodPersistentStorage(s Stack, all resources, report func(Resource, Severity, string, ...any)) {
	if !s.Prod {
		return
	}
	for _, st := range all.ofType(typeStatefulSet) {
		fix, ok := persistentStores[st.Inputs.String(`spec.template.metadata.labels["`+kube.LabelName+`"]`)]
		if !ok || st.Inputs.Unknown("spec.volumeClaimTemplates") || st.Inputs.Len("spec.volumeClaimTemplates") > 0 {
			continue
		}
		report(st, Error, "keeps its data on the node's ephemeral storage in prod, lost with the pod; %s", fix)
	}
}
