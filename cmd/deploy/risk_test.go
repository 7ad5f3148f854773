package main

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

func TestClassify(t *testing.T) {
	labels := func(level string) *apitype.StepEventStateMetadata {
		l := map[string]any{}
		if level != "" {
			l[podSecurityLabel] = level
		}
		return state(map[string]any{"metadata": map[string]any{"labels": l}})
	}
	withClaims := state(map[string]any{"spec": map[string]any{"volumeClaimTemplates": []any{map[string]any{"metadata": map[string]any{"name": "data"}}}}})
	template := map[string]apitype.PropertyDiff{`spec.template.metadata.annotations["checksum/config"]`: {Kind: apitype.DiffUpdate}}
	tests := []struct {
		name   string
		meta   apitype.StepEventMetadata
		want   string // the gravest risk
		reason string // in one of the reasons
	}{
		{"a ConfigMap update", apitype.StepEventMetadata{Op: apitype.OpUpdate, Type: configMapType}, riskSafe, ""},
		{"a Deployment's replicas", apitype.StepEventMetadata{Op: apitype.OpUpdate, Type: deploymentType, DetailedDiff: map[string]apitype.PropertyDiff{"spec.replicas": {Kind: apitype.DiffUpdate}}}, riskSafe, ""},
		{"a Deployment's pod template", apitype.StepEventMetadata{Op: apitype.OpUpdate, Type: deploymentType, DetailedDiff: template}, riskRestartsPods, "checksum/config"},
		{"a DaemonSet's pod template", apitype.StepEventMetadata{Op: apitype.OpUpdate, Type: "kubernetes:apps/v1:DaemonSet", DetailedDiff: template}, riskRestartsPods, "the pods roll"},
		{"a Deployment replaced", apitype.StepEventMetadata{Op: apitype.OpReplace, Type: deploymentType, Keys: []string{"spec.selector"}}, riskRestartsPods, "spec.selector"},
		{"a Deployment created", apitype.StepEventMetadata{Op: apitype.OpCreate, Type: deploymentType}, riskSafe, ""},
		{"a PVC deleted", apitype.StepEventMetadata{Op: apitype.OpDelete, Type: pvcType}, riskDataLoss, "PersistentVolumeClaim"},
		{"a PVC replaced", apitype.StepEventMetadata{Op: apitype.OpReplace, Type: pvcType, Keys: []string{"spec.storageClassName"}}, riskDataLoss, "spec.storageClassName"},
		{"a PVC resized", apitype.StepEventMetadata{Op: apitype.OpUpdate, Type: pvcType}, riskSafe, ""},
		{"a Namespace replaced", apitype.StepEventMetadata{Op: apitype.OpReplace, Type: namespaceType, Keys: []string{"metadata.name"}}, riskDataLoss, "every object in it"},
		{"a Namespace deleted", apitype.StepEventMetadata{Op: apitype.OpDelete, Type: namespaceType}, riskDataLoss, "deleting a Namespace"},
		{"a StatefulSet with claims replaced", apitype.StepEventMetadata{Op: apitype.OpReplace, Type: statefulSetType, Old: withClaims}, riskDataLoss, "(data)"},
		{"a StatefulSet with claims deleted", apitype.StepEventMetadata{Op: apitype.OpDelete, Type: statefulSetType, Old: withClaims}, riskDataLoss, "volume claim templates"},
		{"a StatefulSet without claims replaced", apitype.StepEventMetadata{Op: apitype.OpReplace, Type: statefulSetType, Old: state(map[string]any{})}, riskRestartsPods, "recreates its pods"},
		{"a StatefulSet with claims rolled", apitype.StepEventMetadata{Op: apitype.OpUpdate, Type: statefulSetType, Old: withClaims, DetailedDiff: template}, riskRestartsPods, "pod template"},
		{"the provider replaced", apitype.StepEventMetadata{Op: apitype.OpReplace, Type: providerType, Keys: []string{"kubeconfig"}}, riskReplacesProvider, "every resource it manages"},
		{"the provider updated", apitype.StepEventMetadata{Op: apitype.OpUpdate, Type: providerType}, riskSafe, ""},
		{"Pod Security lowered", apitype.StepEventMetadata{Op: apitype.OpUpdate, Type: namespaceType, Old: labels("restricted"), New: labels("baseline")}, riskWeakensSecurity, "from restricted to baseline"},
		{"Pod Security label removed", apitype.StepEventMetadata{Op: apitype.OpUpdate, Type: namespaceType, Old: labels("baseline"), New: labels("")}, riskWeakensSecurity, "to none"},
		{"Pod Security raised", apitype.StepEventMetadata{Op: apitype.OpUpdate, Type: namespaceType, Old: labels("baseline"), New: labels("restricted")}, riskSafe, ""},
		{"Pod Security unknown until applied", apitype.StepEventMetadata{Op: apitype.OpUpdate, Type: namespaceType, Old: labels("restricted"), New: labels(unknownValue)}, riskSafe, ""},
		{"a NetworkPolicy removed", apitype.StepEventMetadata{Op: apitype.OpDelete, Type: networkPolicyType}, riskWeakensSecurity, "NetworkPolicy"},
		{"a NetworkPolicy changed", apitype.StepEventMetadata{Op: apitype.OpUpdate, Type: networkPolicyType}, riskSafe, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.meta.URN = urn(tt.meta.Type, "x")
			c := newResourceChange(tt.meta)
			if c.Risk != tt.want {
				t.Errorf("risk %s, want %s (%+v)", c.Risk, tt.want, c.Risks)
			}
			var reasons []string
			for _, r := range c.Risks {
				reasons = append(reasons, r.Reason)
			}
			if tt.reason != "" && !strings.Contains(strings.Join(reasons, "\n"), tt.reason) {
				t.Errorf("reasons %q lack %q", reasons, tt.reason)
			}
			if tt.want == riskSafe && len(c.Risks) > 0 {
				t.Errorf("a safe step has risks: %+v", c.Risks)
			}
		})
	}
}

func TestDestructiveSteps(t *testing.T) {
	s := changeSummary{Resources: []resourceChange{
		newResourceChange(apitype.StepEventMetadata{Op: apitype.OpDelete, URN: urn(pvcType, "data"), Type: pvcType}),
		newResourceChange(apitype.StepEventMetadata{Op: apitype.OpReplace, URN: urn(providerType, "k8s"), Type: providerType}),
		newResourceChange(apitype.StepEventMetadata{Op: apitype.OpDelete, URN: urn(networkPolicyType, "np"), Type: networkPolicyType}),
		newResourceChange(apitype.StepEventMetadata{Op: apitype.OpUpdate, URN: urn(deploymentType, "app"), Type: deploymentType}),
	}}
	var got []string
	for _, c := range s.destructiveSteps() {
		got = append(got, c.name())
	}
	if strings.Join(got, ",") != "data,k8s" {
		t.Errorf("destructive steps %v, want the PVC delete and the provider replace only", got)
	}
}
