package monitoring

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/appmetrics"
	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Mode says who runs Prometheus.
type Mode string

const (
	// Bundled deploys Prometheus, Alertmanager, kube-state-metrics, Grafana and the custom-metrics adapter.
	Bundled Mode = "bundled"
	// Operator emits a ServiceMonitor and a PrometheusRule for a Prometheus Operator already in the cluster.
	Operator Mode = "operator"
)

// MonitoringArgs configure a Monitoring stack. Plain Go fields decide which resources exist and hold
// the thresholds written into rule files; pulumi inputs carry what comes from other resources.
type MonitoringArgs struct {
	// Namespace is created by the component (bundled mode) with the `restricted` Pod Security level.
	Namespace string
	// Environment is recorded as a label on every object.
	Environment string
	Mode        Mode

	// App is the application to scrape, alert on and autoscale.
	App AppTarget

	Prometheus   Prometheus
	Alertmanager Alertmanager
	Alerts       Thresholds
	// ScalingMetrics are the custom metrics the app's HPA scales on: each gets a recording rule, an
	// adapter rule, an alert and a dashboard panel.
	ScalingMetrics []ScalingTarget
	Grafana        Grafana
	Adapter        Adapter
	// KubeStateMetrics sizes kube-state-metrics. Default defaultSmallResources.
	KubeStateMetrics kube.Resources
}

// AppTarget is what the monitoring stack needs to know about the app, mostly outputs of components/app.
type AppTarget struct {
	// Name is the app's name: the scrape job and the `app.kubernetes.io/name` of its pods.
	Name        string
	Namespace   pulumi.StringInput
	PodLabels   pulumi.StringMapInput
	MetricsPort pulumi.IntInput
	MetricsPath pulumi.StringInput
	// Deployment is the app's Deployment; the dashboards select its pods by name.
	Deployment pulumi.StringInput
	// Autoscaled says the app has an HPA, so its dashboard shows replicas against the HPA's range.
	Autoscaled bool
}

// Prometheus configures the server.
type Prometheus struct {
	// Retention and RetentionSize bound the TSDB (Prometheus duration and size syntax, e.g. 15d, 45GB).
	Retention     string
	RetentionSize string
	// StorageSize, when set, gives the server a PersistentVolumeClaim; empty means an emptyDir.
	StorageSize  string
	StorageClass string
	// Resources default to defaultPrometheusResources, enough for one app at dev scale.
	Resources kube.Resources
}

// Alertmanager configures alert delivery.
type Alertmanager struct {
	// Replicas above 1 form a gossip cluster and get a PodDisruptionBudget.
	Replicas int
	// WebhookURL and SlackWebhookURL are secret; nil means that receiver is not configured.
	WebhookURL      pulumi.StringInput
	SlackWebhookURL pulumi.StringInput
	Resources       kube.Resources
}

// Thresholds are the alert rules' limits.
type Thresholds struct {
	ErrorRatePercent   float64
	LatencyP95Seconds  float64
	RestartsPerHour    int
	PVCUsagePercent    int
	HPAAtMaxForMinutes int
	// ErrorRateForMinutes and LatencyForMinutes are the `for` of the error-rate and latency alerts.
	ErrorRateForMinutes int
	LatencyForMinutes   int
}

// servesScalingMetrics says whether the stack deploys the adapter: only an HPA on a scaling metric reads it.
func (a MonitoringArgs) ServesScalingMetrics() bool {
	return a.Mode == Bundled && len(a.ScalingMetrics) > 0
}

// ScalingTarget is one declared custom metric and the per-pod average the HPA aims for.
type ScalingTarget struct {
	Metric appmetrics.ScalingMetric
	// Target is a Kubernetes quantity, as in the HPA (e.g. "50", "500m").
	Target string
}

// Grafana configures dashboards.
type Grafana struct {
	// AdminPassword is required in bundled mode; it is stored in a Secret.
	AdminPassword pulumi.StringInput
	// ElasticsearchURL adds an Elasticsearch datasource for the logs, on ElasticsearchIndex (an index
	// pattern or data stream); nil means none. Grafana logs in as ElasticsearchUser with
	// ElasticsearchPassword (secret, kept in a Secret) and trusts ElasticsearchCA (a PEM certificate,
	// public), all required with a URL.
	ElasticsearchURL      pulumi.StringInput
	ElasticsearchIndex    pulumi.StringInput
	ElasticsearchUser     string
	ElasticsearchPassword pulumi.StringInput
	ElasticsearchCA       pulumi.StringInput
	// IngressHost publishes Grafana through an Ingress of IngressClassName; empty keeps it internal.
	IngressHost      string
	IngressClassName string
	// IngressControllerNamespace may reach Grafana when there is an ingress.
	IngressControllerNamespace string
	Resources                  kube.Resources
}

// Adapter configures prometheus-adapter, which serves the scaling metrics to the HPA.
type Adapter struct {
	// Replicas above 1 get a PodDisruptionBudget: the HPA stops scaling while the API is unavailable.
	Replicas  int
	Resources kube.Resources
}

// The resources of the stack's workloads when the caller sets none. They fit the app's dev profile
// beside it on one 4-CPU node; prod stacks size Prometheus through the stack config.
var (
	defaultPrometheusResources = kube.Resources{
		Requests: kube.ResourceList{CPU: "200m", Memory: "512Mi"},
		Limits:   kube.ResourceList{CPU: "1", Memory: "1Gi"},
	}
	defaultSmallResources = kube.Resources{
		Requests: kube.ResourceList{CPU: "50m", Memory: "64Mi"},
		Limits:   kube.ResourceList{CPU: "200m", Memory: "128Mi"},
	}
	defaultGrafanaResources = kube.Resources{
		Requests: kube.ResourceList{CPU: "100m", Memory: "128Mi"},
		Limits:   kube.ResourceList{CPU: "500m", Memory: "256Mi"},
	}
	defaultAdapterResources = kube.Resources{
		Requests: kube.ResourceList{CPU: "50m", Memory: "128Mi"},
		Limits:   kube.ResourceList{CPU: "250m", Memory: "256Mi"},
	}
)

// withDefaults fills what the caller left empty.
func (a MonitoringArgs) withDefaults() MonitoringArgs {
	if a.Mode == "" {
		a.Mode = Bundled
	}
	if a.App.Name == "" {
		// The app component's own default name.
		a.App.Name = "nexios"
	}
	if a.Prometheus.Retention == "" {
		// Prometheus' own default.
		a.Prometheus.Retention = "15d"
	}
	if a.Alertmanager.Replicas == 0 {
		a.Alertmanager.Replicas = 1
	}
	if a.Adapter.Replicas == 0 {
		a.Adapter.Replicas = 1
	}
	if a.Grafana.IngressClassName == "" {
		// The class the app's ingress uses by default.
		a.Grafana.IngressClassName = "nginx"
	}
	if a.Grafana.IngressControllerNamespace == "" {
		a.Grafana.IngressControllerNamespace = "ingress-nginx"
	}
	setResources(&a.Prometheus.Resources, defaultPrometheusResources)
	setResources(&a.Alertmanager.Resources, defaultSmallResources)
	setResources(&a.KubeStateMetrics, defaultSmallResources)
	setResources(&a.Grafana.Resources, defaultGrafanaResources)
	setResources(&a.Adapter.Resources, defaultAdapterResources)
	return a
}

func setResources(r *kube.Resources, def kube.Resources) {
	if *r == (kube.Resources{}) {
		*r = def
	}
}

var (
	promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	promSize     = regexp.MustCompile(`^[0-9]+(B|KB|MB|GB|TB|PB|EB)$`)
)

// validate reports every problem at once; the stacks package has checked the user's values already,
// so these are programming errors of the caller.
func (a MonitoringArgs) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if a.Namespace == "" {
		add("namespace is required")
	}
	if a.Mode != Bundled && a.Mode != Operator {
		add("mode %q is not %q or %q", a.Mode, Bundled, Operator)
	}
	if a.App.Namespace == nil || a.App.PodLabels == nil || a.App.MetricsPort == nil || a.App.MetricsPath == nil || a.App.Deployment == nil {
		add("app: namespace, pod labels, metrics port, metrics path and deployment are all required")
	}
	if !promDuration.MatchString(a.Prometheus.Retention) {
		add("prometheus: retention %q is not a Prometheus duration", a.Prometheus.Retention)
	}
	if a.Prometheus.RetentionSize != "" && !promSize.MatchString(a.Prometheus.RetentionSize) {
		add("prometheus: retention size %q is not a Prometheus size", a.Prometheus.RetentionSize)
	}
	if a.Alertmanager.Replicas < 1 || a.Adapter.Replicas < 1 {
		add("alertmanager and adapter replicas must be at least 1, got %d and %d", a.Alertmanager.Replicas, a.Adapter.Replicas)
	}
	t := a.Alerts
	if t.ErrorRatePercent <= 0 || t.ErrorRatePercent > 100 || t.LatencyP95Seconds <= 0 || t.RestartsPerHour < 1 ||
		t.PVCUsagePercent < 1 || t.PVCUsagePercent > 100 || t.HPAAtMaxForMinutes < 1 || t.ErrorRateForMinutes < 1 || t.LatencyForMinutes < 1 {
		add("alerts: every threshold must be set and in range, got %+v", t)
	}
	seen := map[string]bool{}
	for _, s := range a.ScalingMetrics {
		// Built in or defined by the stack, the metric is checked itself: its query becomes a
		// recording rule and its name an adapter rule, an alert and a panel.
		if err := s.Metric.Validate(); err != nil {
			add("scaling metrics: %w", err)
		}
		if seen[s.Metric.Name] {
			add("scaling metrics: %q is declared twice", s.Metric.Name)
		}
		seen[s.Metric.Name] = true
		if s.Target == "" {
			add("scaling metrics: %q has no target", s.Metric.Name)
		}
	}
	if a.Mode == Bundled && a.Grafana.AdminPassword == nil {
		add("grafana: the admin password is required in bundled mode")
	}
	if g := a.Grafana; (g.ElasticsearchURL == nil) != (g.ElasticsearchIndex == nil) ||
		(g.ElasticsearchURL != nil && (g.ElasticsearchUser == "" || g.ElasticsearchPassword == nil || g.ElasticsearchCA == nil)) {
		add("grafana: the Elasticsearch URL, index, user, password and CA certificate come together")
	}
	for _, w := range []struct {
		what string
		r    kube.Resources
	}{
		{"prometheus", a.Prometheus.Resources}, {"alertmanager", a.Alertmanager.Resources}, {"grafana", a.Grafana.Resources},
		{"adapter", a.Adapter.Resources}, {"kube-state-metrics", a.KubeStateMetrics},
	} {
		if err := w.r.Validate(); err != nil {
			add("%s: %w", w.what, err)
		}
	}
	return errors.Join(errs...)
}
