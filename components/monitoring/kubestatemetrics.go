package monitoring

import (
	"fmt"
	"strings"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// ksmResources are the object kinds kube-state-metrics exports, by API group: what the alerts and
// dashboards read (replicas, restarts, requests and limits, HPA state, claims, budgets, node capacity).
var ksmResources = []struct {
	group string
	kinds []string
}{
	{"", []string{"nodes", "pods", "persistentvolumeclaims"}},
	{"apps", []string{"deployments", "statefulsets"}},
	{"autoscaling", []string{"horizontalpodautoscalers"}},
	{"policy", []string{"poddisruptionbudgets"}},
}

// kubeStateMetrics deploys kube-state-metrics, limited to the kinds above both in its flags and in
// its ClusterRole (list and watch only).
func (b *builder) kubeStateMetrics() error {
	sa, err := b.serviceAccount(nameKubeStateMetrics, true)
	if err != nil {
		return err
	}
	var rules rbacv1.PolicyRuleArray
	var kinds []string
	for _, r := range ksmResources {
		rules = append(rules, rule(r.group, r.kinds, "list", "watch"))
		kinds = append(kinds, r.kinds...)
	}
	if err := b.clusterRole(nameKubeStateMetrics, sa, rules); err != nil {
		return err
	}
	container := corev1.ContainerArgs{
		Name:  pulumi.String(nameKubeStateMetrics),
		Image: pulumi.String(imageKubeStateMetrics),
		Args: pulumi.StringArray{
			pulumi.String(fmt.Sprintf("--port=%d", ksmPort)),
			pulumi.String(fmt.Sprintf("--telemetry-port=%d", ksmTelemetryPort)),
			pulumi.String("--resources=" + strings.Join(kinds, ",")),
		},
		Ports: corev1.ContainerPortArray{
			corev1.ContainerPortArgs{Name: pulumi.String(portHTTP), ContainerPort: pulumi.Int(ksmPort), Protocol: pulumi.String("TCP")},
			corev1.ContainerPortArgs{Name: pulumi.String(portTelemetry), ContainerPort: pulumi.Int(ksmTelemetryPort), Protocol: pulumi.String("TCP")},
		},
		Resources:       b.args.KubeStateMetrics.WithEphemeralStorage(kube.SmallEphemeralStorage).Args(),
		LivenessProbe:   kube.HTTPProbe{Path: "/livez", PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3}.Args(portHTTP),
		ReadinessProbe:  kube.HTTPProbe{Path: "/readyz", PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3}.Args(portTelemetry),
		SecurityContext: kube.RestrictedContainerSecurityContext(),
	}
	_, err = appsv1.NewDeployment(b.ctx, b.name+"-kube-state-metrics", &appsv1.DeploymentArgs{
		Metadata: b.meta(nameKubeStateMetrics),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(nameKubeStateMetrics))},
			Template: b.podTemplate(nameKubeStateMetrics, sa, true, nil, &corev1.PodSpecArgs{
				Containers: corev1.ContainerArray{container},
			}),
		},
	}, b.child, b.inNamespace)
	if err != nil {
		return fmt.Errorf("creating kube-state-metrics: %w", err)
	}
	return nil
}
