// Package logging deploys the EFK stack: Elasticsearch stores the logs, Fluent Bit ships every
// container's log lines from each node, Kibana searches them, and a setup Job applies the index
// lifecycle that keeps them only as long as the environment says. Fluent Bit, which mounts the nodes'
// files, runs in a `privileged` namespace of its own; everything else in one that enforces `restricted`.
package logging

import (
	"errors"
	"fmt"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Logging is a deployed EFK stack.
type Logging struct {
	pulumi.ResourceState

	// Namespace holds every object of the stack but Fluent Bit's, under Pod Security `restricted`.
	Namespace pulumi.StringOutput `pulumi:"namespace"`
	// AgentsNamespace holds Fluent Bit alone, under Pod Security `privileged`: the one workload that
	// mounts the node's files.
	AgentsNamespace pulumi.StringOutput `pulumi:"agentsNamespace"`
	// ElasticsearchURL is the client Service's in-cluster HTTPS URL (Grafana's datasource reads it).
	ElasticsearchURL pulumi.StringOutput `pulumi:"elasticsearchUrl"`
	// ElasticsearchService names the client Service.
	ElasticsearchService pulumi.StringOutput `pulumi:"elasticsearchService"`
	// CredentialsSecret names the Secret holding the admin and the clients' passwords and the CA
	// certificate (`ca.crt`) that clients verify Elasticsearch with; never its values.
	CredentialsSecret pulumi.StringOutput `pulumi:"credentialsSecret"`
	// CACertificate is the PEM of the CA that Elasticsearch's certificate comes from, for clients in
	// other namespaces. Public: it is not a secret output.
	CACertificate pulumi.StringOutput `pulumi:"caCertificate"`
	// KibanaURL is Kibana's in-cluster URL; PublicKibanaURL its ingress URL, empty without one.
	KibanaURL       pulumi.StringOutput `pulumi:"kibanaUrl"`
	PublicKibanaURL pulumi.StringOutput `pulumi:"publicKibanaUrl"`
	// DataStream is where the logs land, and the index pattern to search in Kibana.
	DataStream pulumi.StringOutput `pulumi:"dataStream"`
}

var _ pulumi.ComponentResource = (*Logging)(nil)

// NewLogging deploys the logging stack. Pass the Kubernetes provider as an option; every child uses it.
func NewLogging(ctx *pulumi.Context, name string, args *LoggingArgs, opts ...pulumi.ResourceOption) (*Logging, error) {
	if args == nil {
		return nil, errors.New("logging: args are required")
	}
	a := args.withDefaults()
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("logging %q: %w", name, err)
	}
	l := &Logging{}
	if err := ctx.RegisterComponentResource("nexios:components:Logging", name, l, opts...); err != nil {
		return nil, fmt.Errorf("registering logging %q: %w", name, err)
	}
	b := &builder{ctx: ctx, name: name, args: a, child: pulumi.Parent(l)}
	if err := b.build(l); err != nil {
		return nil, fmt.Errorf("logging %q: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(l, pulumi.Map{
		"namespace":            l.Namespace,
		"agentsNamespace":      l.AgentsNamespace,
		"elasticsearchUrl":     l.ElasticsearchURL,
		"elasticsearchService": l.ElasticsearchService,
		"credentialsSecret":    l.CredentialsSecret,
		"caCertificate":        l.CACertificate,
		"kibanaUrl":            l.KibanaURL,
		"publicKibanaUrl":      l.PublicKibanaURL,
		"dataStream":           l.DataStream,
	}); err != nil {
		return nil, fmt.Errorf("registering outputs of logging %q: %w", name, err)
	}
	return l, nil
}

// builder carries what every child needs while the stack is assembled.
type builder struct {
	ctx   *pulumi.Context
	name  string
	args  LoggingArgs
	child pulumi.ResourceOption

	namespace pulumi.StringOutput
	// inNamespace orders namespaced children after their namespace.
	inNamespace pulumi.ResourceOption
	// agentsNamespace and inAgentsNamespace are the same for Fluent Bit's namespace.
	agentsNamespace   pulumi.StringOutput
	inAgentsNamespace pulumi.ResourceOption
}

func (b *builder) build(l *Logging) error {
	if err := b.createNamespaces(); err != nil {
		return err
	}
	creds, err := b.credentials()
	if err != nil {
		return err
	}
	es, err := b.elasticsearch(creds)
	if err != nil {
		return err
	}
	setup, err := b.setupJob(creds, es)
	if err != nil {
		return err
	}
	if err := b.fluentBit(creds, es, setup); err != nil {
		return err
	}
	kibana, err := b.kibana(creds, es, setup)
	if err != nil {
		return err
	}
	if err := b.networkPolicies(); err != nil {
		return err
	}

	l.Namespace = b.namespace
	l.AgentsNamespace = b.agentsNamespace
	l.ElasticsearchService = es.clientName
	l.ElasticsearchURL = es.url
	l.CredentialsSecret = creds.name
	l.CACertificate = creds.ca
	l.KibanaURL = kibana.url
	l.PublicKibanaURL = kibana.publicURL
	l.DataStream = pulumi.String(b.args.DataStream).ToStringOutput()
	return nil
}

// Component names: the app.kubernetes.io/name of each part's objects and its pods' selector.
const (
	partElasticsearch = "elasticsearch"
	partFluentBit     = "fluent-bit"
	partKibana        = "kibana"
	partSetup         = "logging-setup"
)

// selector is the immutable label set that picks one part's pods.
func (b *builder) selector(part string) map[string]string {
	return kube.SelectorLabels(part, b.name)
}

// labels is the full label set of one part's objects.
func (b *builder) labels(part string) map[string]string {
	return kube.ObjectLabels(b.ctx, part, b.name, "logging", b.args.Environment)
}

// meta is the metadata of a namespaced child; names are left to Pulumi's auto-naming so two
// instances never collide and replacements can create before they delete.
func (b *builder) meta(part string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Namespace: b.namespace, Labels: kube.StringMap(b.labels(part))}
}

// agentsMeta is meta in Fluent Bit's namespace.
func (b *builder) agentsMeta(part string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Namespace: b.agentsNamespace, Labels: kube.StringMap(b.labels(part))}
}

// createNamespaces creates the stack's namespace and Fluent Bit's. Fluent Bit reads the node's log
// files and keeps its buffer on the node through hostPath volumes, which both `restricted` and
// `baseline` forbid, and runs as root to read files only root may: its namespace needs `privileged`.
// Everything else runs in a namespace that enforces `restricted`, so no pod there can mount the node.
func (b *builder) createNamespaces() error {
	ns, err := kube.NewNamespace(b.ctx, b.name+"-namespace", b.args.Namespace, kube.PodSecurityRestricted, b.labels("logging"), b.child)
	if err != nil {
		return err
	}
	b.namespace = ns.Metadata.Name().Elem()
	b.inNamespace = pulumi.DependsOn([]pulumi.Resource{ns})
	agents, err := kube.NewNamespace(b.ctx, b.name+"-agents-namespace", b.args.FluentBit.Namespace, kube.PodSecurityPrivileged, b.labels(partFluentBit), b.child)
	if err != nil {
		return err
	}
	b.agentsNamespace = agents.Metadata.Name().Elem()
	b.inAgentsNamespace = pulumi.DependsOn([]pulumi.Resource{agents})
	return nil
}

// disruptionBudget lets voluntary disruptions (drains, upgrades) take one of a part's pods at a time.
// unhealthy is the unhealthyPodEvictionPolicy; empty keeps Kubernetes' default, IfHealthyBudget.
func (b *builder) disruptionBudget(suffix, part, unhealthy string) error {
	spec := &policyv1.PodDisruptionBudgetSpecArgs{
		MaxUnavailable: pulumi.Int(1),
		Selector:       &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(part))},
	}
	if unhealthy != "" {
		spec.UnhealthyPodEvictionPolicy = pulumi.String(unhealthy)
	}
	_, err := policyv1.NewPodDisruptionBudget(b.ctx, b.name+"-"+suffix, &policyv1.PodDisruptionBudgetArgs{
		Metadata: b.meta(part),
		Spec:     spec,
	}, b.child, b.inNamespace)
	if err != nil {
		return fmt.Errorf("creating %s disruption budget: %w", part, err)
	}
	return nil
}
