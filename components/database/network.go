package database

import (
	"fmt"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// networkPolicy admits to the server's port only the client pods and, with backups, the backup Job's
// pods; nothing else of the namespace or the cluster reaches it. The namespace's own default-deny
// policy (the app's) denies the rest of its ingress.
func (b *builder) networkPolicy() error {
	peers := networkingv1.NetworkPolicyPeerArray{
		networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{MatchLabels: b.args.ClientPods}},
	}
	if b.args.Backup != nil {
		peers = append(peers, networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(nameBackup))}})
	}
	_, err := networkingv1.NewNetworkPolicy(b.ctx, b.name+"-allow", &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta(nameServer),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(nameServer))},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{networkingv1.NetworkPolicyIngressRuleArgs{
				From:  peers,
				Ports: networkingv1.NetworkPolicyPortArray{tcp(Port)},
			}},
		},
	}, b.child)
	if err != nil {
		return fmt.Errorf("creating network policy: %w", err)
	}
	return nil
}

// backupEgress lets the backup Job's pods reach the cluster's DNS, the server and, with an S3 target,
// the endpoint's port, and nothing else: a namespace that restricts egress (prod's
// app.networkPolicy.restrictEgress) would otherwise cut pg_dump off from all three. A NetworkPolicy
// cannot name a host, and a bucket's addresses change, so the endpoint's port is open to any address.
func (b *builder) backupEgress() error {
	rules := networkingv1.NetworkPolicyEgressRuleArray{
		networkingv1.NetworkPolicyEgressRuleArgs{
			To: networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{
				MatchLabels: pulumi.StringMap{kube.LabelNamespaceName: pulumi.String("kube-system")},
			}}},
			Ports: networkingv1.NetworkPolicyPortArray{
				networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("UDP"), Port: pulumi.Int(53)},
				tcp(53),
			},
		},
		networkingv1.NetworkPolicyEgressRuleArgs{
			To:    networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(nameServer))}}},
			Ports: networkingv1.NetworkPolicyPortArray{tcp(Port)},
		},
	}
	if s3 := b.args.Backup.S3; s3 != nil {
		rules = append(rules, networkingv1.NetworkPolicyEgressRuleArgs{Ports: networkingv1.NetworkPolicyPortArray{tcp(endpointPort(s3.Endpoint))}})
	}
	_, err := networkingv1.NewNetworkPolicy(b.ctx, b.name+"-backup-egress", &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta(nameBackup),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(nameBackup))},
			PolicyTypes: pulumi.StringArray{pulumi.String("Egress")},
			Egress:      rules,
		},
	}, b.child)
	if err != nil {
		return fmt.Errorf("creating backup egress network policy: %w", err)
	}
	return nil
}

func tcp(port int) networkingv1.NetworkPolicyPortArgs {
	return networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(port)}
}
