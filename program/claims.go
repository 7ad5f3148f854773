package program

import (
	"github.com/nexios-labs/nexios-k8s/components/logging"
	"github.com/nexios-labs/nexios-k8s/components/monitoring"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// Claim is a cluster object whose name the configuration fixes rather than Pulumi's auto-naming, so
// two stacks on one cluster would both create it: the namespaces, named by their stack keys, and the
// custom metrics API, which Kubernetes names. A stack must own each alone; cmd/deploy reads them from
// the cluster before a preview or an up and refuses one that another stack's kube.LabelStack names.
// Every other object is auto-named or lives in one of these namespaces.
type Claim struct {
	// Resource is the kind as kubectl names it: "namespace" or "apiservice".
	Resource string
	// Name is the object's metadata.name.
	Name string
	// Key is the stack key that brings it, e.g. monitoring.namespace.
	Key string
	// Type is the Pulumi type token of the object in a stack's state.
	Type string
}

// The Pulumi types of the claimed objects.
const (
	TypeNamespace  = "kubernetes:core/v1:Namespace"
	TypeAPIService = "kubernetes:apiregistration.k8s.io/v1:APIService"
)

// Claims lists what Deploy creates under a fixed name for a validated configuration, in the order it
// creates them.
func Claims(cfg *stacks.Config) ([]Claim, error) {
	namespace := func(name, key string) Claim {
		return Claim{Resource: "namespace", Name: name, Key: key, Type: TypeNamespace}
	}
	claims := []Claim{namespace(cfg.Target.Namespace, "target.namespace")}
	if l := cfg.Logging; l.Enabled {
		claims = append(claims, namespace(l.Namespace, "logging.namespace"), namespace(logging.AgentsNamespace(l.Namespace), "logging.namespace"))
	}
	if !cfg.Monitoring.Enabled {
		return claims, nil
	}
	scaling, err := scalingTargets(cfg)
	if err != nil {
		return nil, err
	}
	args := monitoringArgs(cfg, scaling, nil, nil, nil)
	if args.Mode != monitoring.Bundled {
		return claims, nil
	}
	claims = append(claims, namespace(cfg.Monitoring.Namespace, "monitoring.namespace"))
	if args.ServesScalingMetrics() {
		claims = append(claims, Claim{Resource: "apiservice", Name: monitoring.CustomMetricsAPIService,
			Key: "app.autoscaling.customMetrics", Type: TypeAPIService})
	}
	return claims, nil
}
