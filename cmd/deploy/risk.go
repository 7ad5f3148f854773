package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// Risk kinds, from the mildest to the gravest.
const (
	riskSafe             = "safe"
	riskRestartsPods     = "restarts-pods"
	riskWeakensSecurity  = "weakens-security"
	riskDataLoss         = "data-loss"
	riskReplacesProvider = "replaces-provider"
)

// riskOrder ranks the kinds; gravest picks the last one present.
var riskOrder = []string{riskSafe, riskRestartsPods, riskWeakensSecurity, riskDataLoss, riskReplacesProvider}

// risk is one reason a step is not safe.
type risk struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// destructive reports whether a risk kind loses data or replaces everything: up refuses such a plan
// without --allow-destructive.
func destructive(kind string) bool {
	return kind == riskDataLoss || kind == riskReplacesProvider
}

func gravest(risks []risk) string {
	worst := riskSafe
	for _, r := range risks {
		if slices.Index(riskOrder, r.Kind) > slices.Index(riskOrder, worst) {
			worst = r.Kind
		}
	}
	return worst
}

// Kubernetes types the classification looks at.
const (
	namespaceType      = "kubernetes:core/v1:Namespace"
	pvcType            = "kubernetes:core/v1:PersistentVolumeClaim"
	statefulSetType    = "kubernetes:apps/v1:StatefulSet"
	networkPolicyType  = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	kubernetesProvider = "pulumi:providers:kubernetes"
	podSecurityLabel   = "pod-security.kubernetes.io/enforce"
)

// podWorkloads are the types whose pod template change rolls their pods.
var podWorkloads = []string{"kubernetes:apps/v1:Deployment", statefulSetType, "kubernetes:apps/v1:DaemonSet"}

// podSecurityLevels rank the Pod Security Standards' levels; a namespace without the label enforces
// nothing, like privileged.
var podSecurityLevels = map[string]int{"": 0, "privileged": 0, "baseline": 1, "restricted": 2}

// classify says why a step is risky; no risk means safe.
func classify(m apitype.StepEventMetadata, changes []propertyChange) []risk {
	var risks []risk
	removes := m.Op == apitype.OpReplace || m.Op == apitype.OpDelete
	verb := map[apitype.OpType]string{apitype.OpReplace: "replacing", apitype.OpDelete: "deleting"}[m.Op]
	switch {
	case m.Type == kubernetesProvider && m.Op == apitype.OpReplace:
		risks = append(risks, risk{riskReplacesProvider, "replacing the Kubernetes provider replaces every resource it manages" + becauseOf(m.Keys)})
	case removes && m.Type == namespaceType:
		risks = append(risks, risk{riskDataLoss, verb + " a Namespace deletes every object in it, volume claims included" + becauseOf(m.Keys)})
	case removes && m.Type == pvcType:
		risks = append(risks, risk{riskDataLoss, verb + " a PersistentVolumeClaim deletes its volume's data" + becauseOf(m.Keys)})
	case removes && m.Type == statefulSetType && len(claimTemplates(m.Old)) > 0:
		risks = append(risks, risk{riskDataLoss, fmt.Sprintf("%s a StatefulSet with volume claim templates (%s) loses the data its pods keep on them%s",
			verb, strings.Join(claimTemplates(m.Old), ", "), becauseOf(m.Keys))})
	}
	if m.Op == apitype.OpDelete && m.Type == networkPolicyType {
		risks = append(risks, risk{riskWeakensSecurity, "removing a NetworkPolicy allows the traffic it denied"})
	}
	if m.Type == namespaceType && (m.Op == apitype.OpUpdate || m.Op == apitype.OpReplace) {
		// A level the table does not know (an unknown value in a preview) is left unjudged.
		before, after := podSecurityLevel(m.Old), podSecurityLevel(m.New)
		rankBefore, knownBefore := podSecurityLevels[before]
		rankAfter, knownAfter := podSecurityLevels[after]
		if knownBefore && knownAfter && rankAfter < rankBefore {
			risks = append(risks, risk{riskWeakensSecurity, fmt.Sprintf("the namespace's Pod Security level drops from %s to %s", before, levelName(after))})
		}
	}
	if slices.Contains(podWorkloads, m.Type) {
		switch {
		case m.Op == apitype.OpReplace && !slices.ContainsFunc(risks, func(r risk) bool { return r.Kind == riskDataLoss }):
			risks = append(risks, risk{riskRestartsPods, "replacing the workload recreates its pods" + becauseOf(m.Keys)})
		case m.Op == apitype.OpUpdate:
			var paths []string
			for _, c := range changes {
				if c.Path == "spec.template" || strings.HasPrefix(c.Path, "spec.template.") {
					paths = append(paths, c.Path)
				}
			}
			if len(paths) > 0 {
				risks = append(risks, risk{riskRestartsPods, "the pod template changes (" + strings.Join(paths, ", ") + "): the pods roll"})
			}
		}
	}
	return risks
}

func becauseOf(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	return " (forced by a change of " + strings.Join(keys, ", ") + ")"
}

// claimTemplates names a StatefulSet's volume claim templates, as recorded in its state.
func claimTemplates(state *apitype.StepEventStateMetadata) []string {
	if state == nil {
		return nil
	}
	var names []string
	for _, props := range []map[string]any{state.Inputs, state.Outputs} {
		spec, _ := props["spec"].(map[string]any)
		templates, _ := spec["volumeClaimTemplates"].([]any)
		for _, t := range templates {
			meta, _ := t.(map[string]any)["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			names = append(names, name)
		}
		if len(names) > 0 {
			return names
		}
	}
	return nil
}

func podSecurityLevel(state *apitype.StepEventStateMetadata) string {
	if state == nil {
		return ""
	}
	meta, _ := state.Inputs["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	level, _ := labels[podSecurityLabel].(string)
	return level
}

func levelName(level string) string {
	if level == "" {
		return "none (no " + podSecurityLabel + " label)"
	}
	return level
}
