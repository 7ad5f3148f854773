package app

import (
	"fmt"
	"sort"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

func (b *builder) autoscaler(deployment *appsv1.Deployment) error {
	h := b.args.Autoscaling
	if h == nil {
		return nil
	}
	var metrics autoscalingv2.MetricSpecArray
	resource := func(name string, percent int) autoscalingv2.MetricSpecArgs {
		return autoscalingv2.MetricSpecArgs{
			Type: pulumi.String("Resource"),
			Resource: &autoscalingv2.ResourceMetricSourceArgs{
				Name:   pulumi.String(name),
				Target: autoscalingv2.MetricTargetArgs{Type: pulumi.String("Utilization"), AverageUtilization: pulumi.Int(percent)},
			},
		}
	}
	if h.CPUUtilization > 0 {
		metrics = append(metrics, resource("cpu", h.CPUUtilization))
	}
	if h.MemoryUtilization > 0 {
		metrics = append(metrics, resource("memory", h.MemoryUtilization))
	}
	names := make([]string, 0, len(h.CustomMetrics))
	for name := range h.CustomMetrics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// Per-pod metrics come from the custom.metrics.k8s.io API (served by the monitoring stack's adapter).
		metrics = append(metrics, autoscalingv2.MetricSpecArgs{
			Type: pulumi.String("Pods"),
			Pods: &autoscalingv2.PodsMetricSourceArgs{
				Metric: autoscalingv2.MetricIdentifierArgs{Name: pulumi.String(name)},
				Target: autoscalingv2.MetricTargetArgs{Type: pulumi.String("AverageValue"), AverageValue: pulumi.String(h.CustomMetrics[name])},
			},
		})
	}
	rules := func(stabilization, percent int) *autoscalingv2.HPAScalingRulesArgs {
		return &autoscalingv2.HPAScalingRulesArgs{
			StabilizationWindowSeconds: pulumi.Int(stabilization),
			SelectPolicy:               pulumi.String("Max"),
			Policies: autoscalingv2.HPAScalingPolicyArray{autoscalingv2.HPAScalingPolicyArgs{
				Type: pulumi.String("Percent"), Value: pulumi.Int(percent), PeriodSeconds: pulumi.Int(h.Behavior.PeriodSeconds),
			}},
		}
	}
	_, err := autoscalingv2.NewHorizontalPodAutoscaler(b.ctx, b.name+"-hpa", &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: b.meta(),
		Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReferenceArgs{
				ApiVersion: pulumi.String("apps/v1"),
				Kind:       pulumi.String("Deployment"),
				Name:       deployment.Metadata.Name().Elem(),
			},
			MinReplicas: pulumi.Int(h.MinReplicas),
			MaxReplicas: pulumi.Int(h.MaxReplicas),
			Metrics:     metrics,
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehaviorArgs{
				ScaleUp:   rules(h.Behavior.ScaleUpStabilizationSeconds, h.Behavior.ScaleUpPercent),
				ScaleDown: rules(h.Behavior.ScaleDownStabilizationSeconds, h.Behavior.ScaleDownPercent),
			},
		},
	}, b.child)
	if err != nil {
		return fmt.Errorf("creating horizontal pod autoscaler: %w", err)
	}
	return nil
}

func (b *builder) disruptionBudget() error {
	d := b.args.DisruptionBudget
	if d == nil {
		return nil
	}
	_, err := policyv1.NewPodDisruptionBudget(b.ctx, b.name+"-pdb", &policyv1.PodDisruptionBudgetArgs{
		Metadata: b.meta(),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: kube.IntOrString(d.MaxUnavailable),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector())},
			// A crash-looping pod must not block node drains; only healthy pods count against the budget.
			UnhealthyPodEvictionPolicy: pulumi.String("AlwaysAllow"),
		},
	}, b.child, b.deps)
	if err != nil {
		return fmt.Errorf("creating pod disruption budget: %w", err)
	}
	return nil
}
