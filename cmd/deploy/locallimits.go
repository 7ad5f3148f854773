package main

import (
	"fmt"
	"strings"

	"github.com/nexios-labs/nexios-k8s/stacks"
)

// localClusterLimits lists what the stack asks of its cluster that the local cluster does not have:
// it runs no ingress controller and no load balancer, so an Ingress or a LoadBalancer Service never
// gets an address there, and the provider, which waits for one, would hold `up` for ten minutes
// before failing. Each entry names the key and its fix.
func localClusterLimits(cfg *stacks.Config, stack string) []string {
	var limits []string
	off := func(key, value string) string {
		return fmt.Sprintf("`pulumi config set --path '%s:%s' %s -s %s`", stacks.Namespace, key, value, stack)
	}
	if in := cfg.App.Ingress; in.Enabled {
		limits = append(limits, fmt.Sprintf("app.ingress (host %s, class %s) needs an ingress controller: turn it off with %s",
			in.Host, in.ClassName, off("app.ingress.enabled", "false")))
	}
	if cfg.App.Service.Type == "LoadBalancer" {
		limits = append(limits, fmt.Sprintf("app.service.type LoadBalancer needs a load balancer: use ClusterIP with %s",
			off("app.service.type", "ClusterIP")))
	}
	if m := cfg.Monitoring; m.Enabled && m.Mode == "bundled" && m.Grafana.IngressHost != "" {
		limits = append(limits, fmt.Sprintf("monitoring.grafana.ingressHost (%s) needs an ingress controller: remove it with `pulumi config set --path '%s:monitoring.grafana.ingressHost' '' -s %s`",
			m.Grafana.IngressHost, stacks.Namespace, stack))
	}
	if l := cfg.Logging; l.Enabled && l.Kibana.IngressHost != "" {
		limits = append(limits, fmt.Sprintf("logging.kibana.ingressHost (%s) needs an ingress controller: remove it with `pulumi config set --path '%s:logging.kibana.ingressHost' '' -s %s`",
			l.Kibana.IngressHost, stacks.Namespace, stack))
	}
	return limits
}

// localClusterError refuses an update the local cluster cannot complete, before anything changes.
func localClusterError(stack string, limits []string) error {
	return fmt.Errorf("stack %q cannot be deployed to the local cluster as it is (nothing was changed):\n  - %s\n"+
		"Make those changes in a copy of the stack for local runs (e.g. Pulumi.%s-local.yaml with the same keys), "+
		"or deploy to a cluster that has them with --cluster kubeconfig or nexios:target.kubeconfig",
		stack, strings.Join(limits, "\n  - "), stack)
}
