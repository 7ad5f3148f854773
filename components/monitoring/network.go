package monitoring

import (
	"fmt"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// workloadPolicy is the ingress one workload's pods admit.
type workloadPolicy struct {
	workload string
	rules    []networkingv1.NetworkPolicyIngressRuleArgs
}

// networkPolicies deny all ingress to the monitoring namespace, then admit each workload's callers:
// only Prometheus reaches the metrics ports, only Grafana and the adapter (when there is one) reach Prometheus, only
// Prometheus reaches Alertmanager (whose replicas also reach each other), and Grafana is reachable from
// the ingress controller when it has an ingress. Egress stays open: Prometheus scrapes the whole cluster,
// and Grafana queries Elasticsearch in the logging namespace, whose own policy admits only Grafana's pods.
func (b *builder) networkPolicies() error {
	_, err := networkingv1.NewNetworkPolicy(b.ctx, b.name+"-default-deny", &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta("monitoring"),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
		},
	}, b.child, b.inNamespace)
	if err != nil {
		return fmt.Errorf("creating default-deny network policy: %w", err)
	}

	pods := func(workload string) networkingv1.NetworkPolicyPeerArgs {
		return networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(workload))}}
	}
	port := func(protocol string, n int) networkingv1.NetworkPolicyPortArgs {
		return networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String(protocol), Port: pulumi.Int(n)}
	}
	from := func(ports networkingv1.NetworkPolicyPortArray, peers ...networkingv1.NetworkPolicyPeerArgs) networkingv1.NetworkPolicyIngressRuleArgs {
		var array networkingv1.NetworkPolicyPeerArray
		for _, p := range peers {
			array = append(array, p)
		}
		return networkingv1.NetworkPolicyIngressRuleArgs{From: array, Ports: ports}
	}
	grafana := []networkingv1.NetworkPolicyIngressRuleArgs{from(networkingv1.NetworkPolicyPortArray{port("TCP", grafanaPort)}, pods(namePrometheus))}
	if b.args.Grafana.IngressHost != "" {
		grafana = append(grafana, from(networkingv1.NetworkPolicyPortArray{port("TCP", grafanaPort)}, networkingv1.NetworkPolicyPeerArgs{
			NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{
				kube.LabelNamespaceName: pulumi.String(b.args.Grafana.IngressControllerNamespace),
			}},
		}))
	}
	prometheusClients := []networkingv1.NetworkPolicyPeerArgs{pods(nameGrafana)}
	if b.args.ServesScalingMetrics() {
		prometheusClients = append(prometheusClients, pods(nameAdapter))
	}
	policies := []workloadPolicy{
		{namePrometheus, []networkingv1.NetworkPolicyIngressRuleArgs{
			from(networkingv1.NetworkPolicyPortArray{port("TCP", prometheusPort)}, prometheusClients...),
		}},
		{nameAlertmanager, []networkingv1.NetworkPolicyIngressRuleArgs{
			from(networkingv1.NetworkPolicyPortArray{port("TCP", alertmanagerPort)}, pods(namePrometheus)),
			from(networkingv1.NetworkPolicyPortArray{port("TCP", alertmanagerPeer), port("UDP", alertmanagerPeer)}, pods(nameAlertmanager)),
		}},
		{nameKubeStateMetrics, []networkingv1.NetworkPolicyIngressRuleArgs{
			from(networkingv1.NetworkPolicyPortArray{port("TCP", ksmPort), port("TCP", ksmTelemetryPort)}, pods(namePrometheus)),
		}},
		{nameGrafana, grafana},
	}
	if b.args.ServesScalingMetrics() {
		// The API server calls the adapter from the control plane's network, which no pod or namespace
		// selector matches: the port is open, and the adapter authenticates the API server's client certificate.
		policies = append(policies, workloadPolicy{nameAdapter, []networkingv1.NetworkPolicyIngressRuleArgs{
			{Ports: networkingv1.NetworkPolicyPortArray{port("TCP", adapterPort)}},
		}})
	}
	for _, p := range policies {
		var rules networkingv1.NetworkPolicyIngressRuleArray
		for _, r := range p.rules {
			rules = append(rules, r)
		}
		_, err := networkingv1.NewNetworkPolicy(b.ctx, b.name+"-"+p.workload+"-allow", &networkingv1.NetworkPolicyArgs{
			Metadata: b.meta(p.workload),
			Spec: &networkingv1.NetworkPolicySpecArgs{
				PodSelector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(p.workload))},
				PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
				Ingress:     rules,
			},
		}, b.child, b.inNamespace)
		if err != nil {
			return fmt.Errorf("creating %s network policy: %w", p.workload, err)
		}
	}
	return nil
}
