package kube

import (
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// AddressName returns meta with the object's name fixed to name, for a Service whose DNS name is an
// address the stack exports (serviceName, internalUrl, prometheusUrl, grafanaUrl, elasticsearchUrl,
// kibanaUrl): other teams configure their clients with it, so it must outlive the object.
//
// Every other object keeps Pulumi's auto-naming (STYLE.md), which appends a random suffix whenever
// the engine creates an object anew. After the cluster is lost, the recovery (docs/disaster-recovery.md:
// refresh, then up) creates every object anew, and the engine gives a create a fresh random seed and
// no old inputs to adopt the name from (pulumi pkg/resource/deploy/step_generator.go): an auto-named
// Service would come back under another name, and every client's URL would break. The drill
// (e2e/drill_test.go) proves the exports unchanged. The name is the resource name, unique in the
// stack, in a namespace of the stack's own (README, "Several stacks on one cluster").
func AddressName(meta *metav1.ObjectMetaArgs, name string) *metav1.ObjectMetaArgs {
	named := *meta
	named.Name = pulumi.String(name)
	return &named
}
