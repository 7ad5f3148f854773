package app

import (
	"fmt"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// AnnotationClusterIssuer asks cert-manager to issue the ingress certificate.
const AnnotationClusterIssuer = "cert-manager.io/cluster-issuer"

// service puts the Service in front of the Deployment's pods. kube.NewService proves that it selects
// them and routes to their named ports, and then, for any type but LoadBalancer, skips the provider's
// Service await, whose fixed 10-second settle would otherwise make up most of an `up`: the
// Deployment's own await already returns only once its pods are Ready (see kube.NewService).
func (b *builder) service(backend kube.Backend) (*corev1.Service, error) {
	a := b.args
	port := corev1.ServicePortArgs{
		Name:       pulumi.String(portHTTP),
		Port:       pulumi.Int(a.Service.Port),
		TargetPort: pulumi.String(portHTTP),
		Protocol:   pulumi.String("TCP"),
	}
	if a.Service.NodePort != 0 {
		port.NodePort = pulumi.Int(a.Service.NodePort)
	}
	ports := corev1.ServicePortArray{port}
	if a.Metrics.Port != a.Port {
		ports = append(ports, corev1.ServicePortArgs{
			Name: pulumi.String(portMetrics), Port: pulumi.Int(a.Metrics.Port), TargetPort: pulumi.String(portMetrics), Protocol: pulumi.String("TCP"),
		})
	}
	name := b.name + "-service"
	service, err := kube.NewService(b.ctx, name, &corev1.ServiceArgs{
		// Its name is the exported serviceName: fixed, so a recovered cluster keeps it (kube.AddressName).
		Metadata: kube.AddressName(b.meta(), name),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String(a.Service.Type),
			Selector: kube.StringMap(b.selector()),
			Ports:    ports,
		},
	}, backend, b.child, b.deps)
	if err != nil {
		return nil, err
	}
	return service, nil
}

// ingress creates the Ingress when asked and returns the public URL ("" without one).
func (b *builder) ingress(service *corev1.Service) (pulumi.StringOutput, error) {
	in := b.args.Ingress
	if in == nil {
		return pulumi.String("").ToStringOutput(), nil
	}
	annotations := kube.StringMap(in.Annotations)
	scheme := "http"
	var tls networkingv1.IngressTLSArray
	if in.TLS != nil {
		scheme = "https"
		secretName := in.TLS.SecretName
		if secretName == "" {
			secretName = strings.ReplaceAll(strings.TrimPrefix(in.Host, "*."), ".", "-") + "-tls"
		}
		tls = networkingv1.IngressTLSArray{networkingv1.IngressTLSArgs{
			Hosts:      pulumi.StringArray{pulumi.String(in.Host)},
			SecretName: pulumi.String(secretName),
		}}
		if in.TLS.ClusterIssuer != "" {
			annotations[AnnotationClusterIssuer] = pulumi.String(in.TLS.ClusterIssuer)
		}
	}
	meta := b.meta()
	meta.Annotations = annotations
	_, err := networkingv1.NewIngress(b.ctx, b.name+"-ingress", &networkingv1.IngressArgs{
		Metadata: meta,
		Spec: &networkingv1.IngressSpecArgs{
			IngressClassName: pulumi.String(in.ClassName),
			Tls:              tls,
			Rules: networkingv1.IngressRuleArray{networkingv1.IngressRuleArgs{
				Host: pulumi.String(in.Host),
				Http: &networkingv1.HTTPIngressRuleValueArgs{Paths: networkingv1.HTTPIngressPathArray{
					networkingv1.HTTPIngressPathArgs{
						Path:     pulumi.String(in.Path),
						PathType: pulumi.String("Prefix"),
						Backend: networkingv1.IngressBackendArgs{Service: &networkingv1.IngressServiceBackendArgs{
							Name: service.Metadata.Name().Elem(),
							Port: &networkingv1.ServiceBackendPortArgs{Name: pulumi.String(portHTTP)},
						}},
					},
				}},
			}},
		},
	}, b.child)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("creating ingress: %w", err)
	}
	return pulumi.Sprintf("%s://%s%s", scheme, in.Host, strings.TrimSuffix(in.Path, "/")), nil
}

// networkPolicies deny all ingress to the namespace, then allow exactly the callers the app expects.
func (b *builder) networkPolicies() error {
	np := b.args.NetworkPolicy
	if np == nil {
		return nil
	}
	policyTypes := pulumi.StringArray{pulumi.String("Ingress")}
	if np.RestrictEgress {
		policyTypes = append(policyTypes, pulumi.String("Egress"))
	}
	_, err := networkingv1.NewNetworkPolicy(b.ctx, b.name+"-default-deny", &networkingv1.NetworkPolicyArgs{
		Metadata: b.meta(),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: policyTypes,
		},
	}, b.child, b.deps)
	if err != nil {
		return fmt.Errorf("creating default-deny network policy: %w", err)
	}

	fromNamespace := func(ns string) networkingv1.NetworkPolicyPeerArgs {
		return networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{
			MatchLabels: pulumi.StringMap{kube.LabelNamespaceName: pulumi.String(ns)},
		}}
	}
	tcp := func(port pulumi.Input) networkingv1.NetworkPolicyPortArgs {
		return networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: port}
	}
	appPeers := networkingv1.NetworkPolicyPeerArray{fromNamespace(np.IngressControllerNamespace)}
	for _, ns := range np.AllowFromNamespaces {
		appPeers = append(appPeers, fromNamespace(ns))
	}
	ingress := networkingv1.NetworkPolicyIngressRuleArray{
		networkingv1.NetworkPolicyIngressRuleArgs{From: appPeers, Ports: networkingv1.NetworkPolicyPortArray{tcp(pulumi.Int(b.args.Port))}},
	}
	if np.MonitoringNamespace != "" {
		ingress = append(ingress, networkingv1.NetworkPolicyIngressRuleArgs{
			From:  networkingv1.NetworkPolicyPeerArray{fromNamespace(np.MonitoringNamespace)},
			Ports: networkingv1.NetworkPolicyPortArray{tcp(pulumi.Int(b.args.Metrics.Port))},
		})
	}
	spec := &networkingv1.NetworkPolicySpecArgs{
		PodSelector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector())},
		PolicyTypes: policyTypes,
		Ingress:     ingress,
	}
	if np.RestrictEgress {
		dns := networkingv1.NetworkPolicyEgressRuleArgs{
			To: networkingv1.NetworkPolicyPeerArray{fromNamespace("kube-system")},
			Ports: networkingv1.NetworkPolicyPortArray{
				networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("UDP"), Port: pulumi.Int(53)},
				tcp(pulumi.Int(53)),
			},
		}
		egress := networkingv1.NetworkPolicyEgressRuleArray{dns}
		if len(np.EgressPorts) > 0 {
			var ports networkingv1.NetworkPolicyPortArray
			for _, p := range np.EgressPorts {
				ports = append(ports, tcp(pulumi.Int(p)))
			}
			egress = append(egress, networkingv1.NetworkPolicyEgressRuleArgs{Ports: ports})
		}
		spec.Egress = egress
	}
	_, err = networkingv1.NewNetworkPolicy(b.ctx, b.name+"-allow", &networkingv1.NetworkPolicyArgs{Metadata: b.meta(), Spec: spec}, b.child, b.deps)
	if err != nil {
		return fmt.Errorf("creating allow network policy: %w", err)
	}
	return nil
}
