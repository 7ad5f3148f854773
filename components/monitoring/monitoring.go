// Package monitoring deploys the monitoring of a Nexios app: Prometheus with generated scrape
// configuration and alert rules, Alertmanager, kube-state-metrics, Grafana with provisioned dashboards
// and the custom-metrics adapter the app's HPA reads; or, in operator mode, a ServiceMonitor and a
// PrometheusRule for a Prometheus Operator that is already there.
package monitoring

import (
	"errors"
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// The stack's workloads, as their app.kubernetes.io/name label and scrape job name.
const (
	namePrometheus       = "prometheus"
	nameAlertmanager     = "alertmanager"
	nameKubeStateMetrics = "kube-state-metrics"
	nameGrafana          = "grafana"
	nameAdapter          = "prometheus-adapter"
)

// Images, pinned by version tag. The tests check the generated configuration and rule files with the
// promtool and amtool of these releases (bin/upstream, mk/upstream.mk pins the same versions); a version
// bump here goes with one there, and should keep those checks passing.
const (
	imagePrometheus       = "prom/prometheus:v3.5.0"
	imageAlertmanager     = "prom/alertmanager:v0.28.1"
	imageGrafana          = "grafana/grafana:12.0.2"
	imageKubeStateMetrics = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0"
	imageAdapter          = "registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0"
)

// annotationChecksum on a pod template holds a hash of the pod's configuration, so a change rolls the pods.
const annotationChecksum = "checksum/config"

// Monitoring is a deployed monitoring stack.
type Monitoring struct {
	pulumi.ResourceState

	// Namespace is where the stack runs (in operator mode: the namespace of the existing Prometheus).
	Namespace pulumi.StringOutput `pulumi:"namespace"`
	// PrometheusURL and GrafanaURL are in-cluster URLs; empty in operator mode.
	PrometheusURL pulumi.StringOutput `pulumi:"prometheusUrl"`
	GrafanaURL    pulumi.StringOutput `pulumi:"grafanaUrl"`
	// GrafanaPublicURL is the ingress URL, empty without one.
	GrafanaPublicURL pulumi.StringOutput `pulumi:"grafanaPublicUrl"`
}

var _ pulumi.ComponentResource = (*Monitoring)(nil)

// NewMonitoring deploys the monitoring stack. Pass the Kubernetes provider as an option; every child uses it.
func NewMonitoring(ctx *pulumi.Context, name string, args *MonitoringArgs, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	if args == nil {
		return nil, errors.New("monitoring: args are required")
	}
	a := args.withDefaults()
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("monitoring %q: %w", name, err)
	}
	m := &Monitoring{}
	if err := ctx.RegisterComponentResource("nexios:components:Monitoring", name, m, opts...); err != nil {
		return nil, fmt.Errorf("registering monitoring %q: %w", name, err)
	}
	b := &builder{ctx: ctx, name: name, args: a, child: pulumi.Parent(m)}
	var err error
	if a.Mode == Operator {
		err = b.buildOperator(m)
	} else {
		err = b.buildBundled(m)
	}
	if err != nil {
		return nil, fmt.Errorf("monitoring %q: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{
		"namespace":        m.Namespace,
		"prometheusUrl":    m.PrometheusURL,
		"grafanaUrl":       m.GrafanaURL,
		"grafanaPublicUrl": m.GrafanaPublicURL,
	}); err != nil {
		return nil, fmt.Errorf("registering outputs of monitoring %q: %w", name, err)
	}
	return m, nil
}

// builder carries what every child needs while the stack is assembled.
type builder struct {
	ctx   *pulumi.Context
	name  string
	args  MonitoringArgs
	child pulumi.ResourceOption

	namespace pulumi.StringOutput
	// inNamespace orders namespaced children after the namespace.
	inNamespace pulumi.ResourceOption
}

func (b *builder) buildBundled(m *Monitoring) error {
	if err := b.createNamespace(); err != nil {
		return err
	}
	if err := b.kubeStateMetrics(); err != nil {
		return err
	}
	if err := b.alertmanager(); err != nil {
		return err
	}
	prom, err := b.prometheus()
	if err != nil {
		return err
	}
	grafanaURL, publicURL, err := b.grafana(prom.url)
	if err != nil {
		return err
	}
	// Without a scaling metric nothing reads the custom metrics API, and an adapter serving no rule
	// answers its discovery with 404: the API server would mark the APIService unavailable, and while
	// an aggregated API is unavailable no namespace finishes deleting.
	if b.args.ServesScalingMetrics() {
		if err := b.adapter(prom.url); err != nil {
			return err
		}
	}
	if err := b.networkPolicies(); err != nil {
		return err
	}
	m.Namespace = b.namespace
	m.PrometheusURL = prom.url
	m.GrafanaURL = grafanaURL
	m.GrafanaPublicURL = publicURL
	return nil
}

func (b *builder) createNamespace() error {
	// The app's NetworkPolicy admits scrapes from this namespace by its name.
	ns, err := kube.NewNamespace(b.ctx, b.name+"-namespace", b.args.Namespace, kube.PodSecurityRestricted, b.labels("monitoring"), b.child)
	if err != nil {
		return err
	}
	b.namespace = ns.Metadata.Name().Elem()
	b.inNamespace = pulumi.DependsOn([]pulumi.Resource{ns})
	return nil
}

// selector is the immutable label set of one workload's pods.
func (b *builder) selector(workload string) map[string]string {
	return kube.SelectorLabels(workload, b.name)
}

// labels is the full label set of a workload's objects.
func (b *builder) labels(workload string) map[string]string {
	return kube.ObjectLabels(b.ctx, workload, b.name, "monitoring", b.args.Environment)
}

// meta is the metadata of a namespaced child; names are left to Pulumi's auto-naming, but for the
// Services of service().
func (b *builder) meta(workload string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Namespace: b.namespace, Labels: kube.StringMap(b.labels(workload))}
}

// clusterMeta is the metadata of a cluster-scoped child, auto-named so two stacks never collide.
func (b *builder) clusterMeta(workload string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Labels: kube.StringMap(b.labels(workload))}
}

// serviceURL is the in-cluster URL of a Service.
func (b *builder) serviceURL(service *corev1.Service, port int) pulumi.StringOutput {
	return pulumi.Sprintf("http://%s.%s.svc.cluster.local:%d", service.Metadata.Name().Elem(), b.namespace, port)
}

// service puts a ClusterIP Service named from suffix in front of a workload's named container port.
// kube.NewService proves against the workload's pod template that the Service selects its pods and
// that the port is theirs, then skips the provider's Service await and its fixed 10-second settle:
// the workload's own await already returns only once its pods are Ready (see kube.NewService).
func (b *builder) service(suffix, workload, portName string, port int, template *corev1.PodTemplateSpecArgs) (*corev1.Service, error) {
	name := b.name + "-" + suffix
	service, err := kube.NewService(b.ctx, name, &corev1.ServiceArgs{
		// Prometheus' and Grafana's names are in the exported URLs (the adapter's, which the APIService
		// names, follows the same rule): fixed, so a recovered cluster keeps them (kube.AddressName).
		Metadata: kube.AddressName(b.meta(workload), name),
		Spec: &corev1.ServiceSpecArgs{
			Selector: kube.StringMap(b.selector(workload)),
			Ports: corev1.ServicePortArray{corev1.ServicePortArgs{
				Name: pulumi.String(portName), Port: pulumi.Int(port), TargetPort: pulumi.String(portName), Protocol: pulumi.String("TCP"),
			}},
		},
	}, b.backend(template), b.child, b.inNamespace)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", workload, err)
	}
	return service, nil
}

// backend is a workload of the stack for kube.NewService's proof: every workload lives in b.namespace.
func (b *builder) backend(template *corev1.PodTemplateSpecArgs) kube.Backend {
	return kube.Backend{Namespace: b.namespace, Template: template}
}

// disruptionBudget keeps all but one replica of a replicated workload through voluntary disruptions.
func (b *builder) disruptionBudget(workload string) error {
	_, err := policyv1.NewPodDisruptionBudget(b.ctx, b.name+"-"+workload+"-pdb", &policyv1.PodDisruptionBudgetArgs{
		Metadata: b.meta(workload),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(workload))},
			// A crash-looping pod must not block node drains.
			UnhealthyPodEvictionPolicy: pulumi.String("AlwaysAllow"),
		},
	}, b.child, b.inNamespace)
	if err != nil {
		return fmt.Errorf("creating %s disruption budget: %w", workload, err)
	}
	return nil
}

// serviceAccount creates a workload's identity; only workloads that call the API get a token.
func (b *builder) serviceAccount(workload string, token bool) (*corev1.ServiceAccount, error) {
	sa, err := corev1.NewServiceAccount(b.ctx, b.name+"-"+workload+"-sa", &corev1.ServiceAccountArgs{
		Metadata:                     b.meta(workload),
		AutomountServiceAccountToken: pulumi.Bool(token),
	}, b.child, b.inNamespace)
	if err != nil {
		return nil, fmt.Errorf("creating %s service account: %w", workload, err)
	}
	return sa, nil
}

// podTemplate is the common shape of the stack's pods: restricted, labelled for the scrape jobs that
// select them, checksum-annotated so a configuration change rolls them.
func (b *builder) podTemplate(workload string, sa *corev1.ServiceAccount, token bool, checksum pulumi.StringInput, spec *corev1.PodSpecArgs) *corev1.PodTemplateSpecArgs {
	annotations := pulumi.StringMap{}
	if checksum != nil {
		annotations[annotationChecksum] = checksum
	}
	spec.ServiceAccountName = sa.Metadata.Name()
	spec.AutomountServiceAccountToken = pulumi.Bool(token)
	spec.SecurityContext = kube.RestrictedPodSecurityContext()
	return &corev1.PodTemplateSpecArgs{
		Metadata: &metav1.ObjectMetaArgs{Labels: kube.StringMap(b.labels(workload)), Annotations: annotations},
		Spec:     spec,
	}
}
