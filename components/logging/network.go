package logging

import (
	"fmt"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// networkPolicies deny all ingress in both namespaces, then allow exactly: Fluent Bit's pods (from
// its own namespace), Kibana, the setup Job and Grafana's pods in the monitoring namespace (with
// Grafana) to Elasticsearch's client port; Elasticsearch nodes to each other's transport port; the
// ingress controller to Kibana (with an ingress); monitoring to Fluent Bit's metrics.
func (b *builder) networkPolicies() error {
	pods := func(part string) networkingv1.NetworkPolicyPeerArgs {
		return networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(part))}}
	}
	namespace := func(name pulumi.StringInput) *metav1.LabelSelectorArgs {
		return &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{kube.LabelNamespaceName: name}}
	}
	port := func(n int) networkingv1.NetworkPolicyPortArray {
		return networkingv1.NetworkPolicyPortArray{networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(n)}}
	}
	type policy struct {
		suffix string
		// agents puts the policy in Fluent Bit's namespace instead of the stack's.
		agents bool
		target *metav1.LabelSelectorArgs
		rules  networkingv1.NetworkPolicyIngressRuleArray
	}
	selecting := func(part string) *metav1.LabelSelectorArgs {
		return &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(part))}
	}
	// Both selectors in one peer: Fluent Bit's pods, and only in its namespace. A pod selector alone
	// would match pods of this namespace only.
	fluentBit := pods(partFluentBit)
	fluentBit.NamespaceSelector = namespace(b.agentsNamespace)
	clients := networkingv1.NetworkPolicyPeerArray{fluentBit, pods(partKibana), pods(partSetup)}
	if g := b.args.Grafana; g != nil {
		// Both selectors in one peer: Grafana's pods, and only in its namespace.
		clients = append(clients, networkingv1.NetworkPolicyPeerArgs{
			NamespaceSelector: namespace(pulumi.String(g.Namespace)),
			PodSelector:       &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(g.PodLabels)},
		})
	}
	policies := []policy{
		// No rules: nothing may connect to any pod here unless a policy below allows it.
		{"deny-all", false, &metav1.LabelSelectorArgs{}, networkingv1.NetworkPolicyIngressRuleArray{}},
		{"agents-deny-all", true, &metav1.LabelSelectorArgs{}, networkingv1.NetworkPolicyIngressRuleArray{}},
		{"elasticsearch", false, selecting(partElasticsearch), networkingv1.NetworkPolicyIngressRuleArray{
			networkingv1.NetworkPolicyIngressRuleArgs{From: clients, Ports: port(esHTTPPort)},
			networkingv1.NetworkPolicyIngressRuleArgs{
				From:  networkingv1.NetworkPolicyPeerArray{pods(partElasticsearch)},
				Ports: port(esTransportPort),
			},
		}},
	}
	if ns := b.args.IngressControllerNamespace; ns != "" && b.args.Kibana.Ingress != nil {
		policies = append(policies, policy{"kibana", false, selecting(partKibana), networkingv1.NetworkPolicyIngressRuleArray{
			networkingv1.NetworkPolicyIngressRuleArgs{
				From:  networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: namespace(pulumi.String(ns))}},
				Ports: port(kibanaPort),
			},
		}})
	}
	if ns := b.args.MonitoringNamespace; ns != "" {
		policies = append(policies, policy{"fluent-bit", true, selecting(partFluentBit), networkingv1.NetworkPolicyIngressRuleArray{
			networkingv1.NetworkPolicyIngressRuleArgs{
				From:  networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: namespace(pulumi.String(ns))}},
				Ports: port(fluentBitHTTPPort),
			},
		}})
	}
	for _, p := range policies {
		meta, inNamespace := b.meta("logging"), b.inNamespace
		if p.agents {
			meta, inNamespace = b.agentsMeta("logging"), b.inAgentsNamespace
		}
		_, err := networkingv1.NewNetworkPolicy(b.ctx, b.name+"-netpol-"+p.suffix, &networkingv1.NetworkPolicyArgs{
			Metadata: meta,
			Spec: &networkingv1.NetworkPolicySpecArgs{
				PodSelector: p.target,
				PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
				Ingress:     p.rules,
			},
		}, b.child, inNamespace)
		if err != nil {
			return fmt.Errorf("creating network policy %s: %w", p.suffix, err)
		}
	}
	return nil
}
