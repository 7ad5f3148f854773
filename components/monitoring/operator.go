package monitoring

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

const operatorAPIVersion = "monitoring.coreos.com/v1"

// buildOperator hands the app to an existing Prometheus Operator: a ServiceMonitor for the app's
// metrics and a PrometheusRule with the same recording and alerting rules as the bundled stack. Both
// live in the app's namespace, which this stack owns; the operator's Prometheus must select them
// (serviceMonitorSelector, ruleSelector and their namespace selectors).
func (b *builder) buildOperator(m *Monitoring) error {
	app := b.args.App
	meta := &metav1.ObjectMetaArgs{Namespace: app.Namespace, Labels: kube.StringMap(b.labels("nexios"))}
	_, err := apiextensions.NewCustomResource(b.ctx, b.name+"-servicemonitor", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String(operatorAPIVersion),
		Kind:       pulumi.String("ServiceMonitor"),
		Metadata:   meta,
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			// The job label is the app's name, as in the bundled configuration, so the rules match.
			"jobLabel": pulumi.String(kube.LabelName),
			"selector": pulumi.Map{"matchLabels": app.PodLabels},
			"endpoints": pulumi.Array{pulumi.Map{
				"targetPort": app.MetricsPort,
				"path":       app.MetricsPath,
				"interval":   pulumi.String(scrapeInterval),
			}},
		}},
	}, b.child)
	if err != nil {
		return fmt.Errorf("creating service monitor: %w", err)
	}
	groups := app.Namespace.ToStringOutput().ApplyT(func(ns string) ([]any, error) {
		gs, err := RuleGroups(b.ruleSettings(ns))
		if err != nil {
			return nil, err
		}
		return toUntyped(gs)
	}).(pulumi.ArrayOutput)
	_, err = apiextensions.NewCustomResource(b.ctx, b.name+"-prometheusrule", &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(operatorAPIVersion),
		Kind:        pulumi.String("PrometheusRule"),
		Metadata:    meta,
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{"groups": groups}},
	}, b.child)
	if err != nil {
		return fmt.Errorf("creating prometheus rule: %w", err)
	}
	none := pulumi.String("").ToStringOutput()
	m.Namespace = pulumi.String(b.args.Namespace).ToStringOutput()
	m.PrometheusURL, m.GrafanaURL, m.GrafanaPublicURL = none, none, none
	return nil
}

// toUntyped turns the rule groups into the plain maps a custom resource's fields are made of, through
// their JSON form, so the PrometheusRule carries exactly what the bundled rule file does.
func toUntyped(groups []RuleGroup) ([]any, error) {
	raw, err := json.Marshal(groups)
	if err != nil {
		return nil, fmt.Errorf("encoding rule groups: %w", err)
	}
	var out []any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("decoding rule groups: %w", err)
	}
	return out, nil
}
