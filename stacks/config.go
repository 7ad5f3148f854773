// Package stacks turns a Pulumi stack's configuration into a typed, defaulted and validated Config.
//
// It is the only package that knows the stack file format: components take typed arguments and never
// read configuration themselves. Every top-level key lives in the `nexios` namespace; a stack file holds
// only what differs from its environment's profile (see Defaults).
package stacks

import "github.com/nexios-labs/nexios-k8s/components/appmetrics"

// Namespace is the Pulumi configuration namespace of every key this program reads.
const Namespace = "nexios"

// Environment names a profile of defaults.
type Environment string

// The environments a stack can belong to.
const (
	Dev  Environment = "dev"
	Prod Environment = "prod"
)

// Config is everything a platform engineer sets for one stack.
type Config struct {
	// Stack is the Pulumi stack name; it is not a key of the stack file.
	Stack string `json:"-"`
	// Environment is the profile the defaults came from (key `environment`).
	Environment Environment `json:"-"`

	Target     Target     `json:"target"`
	App        App        `json:"app"`
	Database   Database   `json:"-"`
	Secrets    Secrets    `json:"secrets"`
	Monitoring Monitoring `json:"monitoring"`
	Logging    Logging    `json:"logging"`
	Postgres   Postgres   `json:"postgres"`

	// secretKeys records which top-level keys the stack file stores encrypted.
	secretKeys map[string]bool
}

// Target says where the resources go: a cluster reached through a kubeconfig, or YAML files in a directory.
type Target struct {
	// Kubeconfig is a path to a kubeconfig file; empty means the KUBECONFIG environment variable or ~/.kube/config.
	Kubeconfig string `json:"kubeconfig"`
	// Context selects a context of the kubeconfig; empty means its current context.
	Context string `json:"context"`
	// RenderYAMLTo, when set, writes manifests into this directory instead of applying them to a cluster.
	RenderYAMLTo string `json:"renderYamlTo"`
	// Namespace is the application's namespace.
	Namespace string `json:"namespace"`
}

// Database holds the connection string handed to the app as DATABASE_URL (key `databaseUrl`, a secret).
type Database struct {
	URL string
	// URLIsSecret records whether the stack file stores the URL encrypted.
	URLIsSecret bool
}

// Postgres runs a PostgreSQL server for the app in its namespace (components/database), whose
// connection string becomes the app's DATABASE_URL in place of `databaseUrl`.
type Postgres struct {
	Enabled bool `json:"enabled"`
	// StorageSize and StorageClass are the data volume claim's; an empty class is the cluster's default.
	StorageSize  string    `json:"storageSize"`
	StorageClass string    `json:"storageClass"`
	Resources    Resources `json:"resources"`
	Backup       Backup    `json:"backup"`
}

// Backup schedules logical backups of the PostgreSQL database (pg_dump) onto a volume claim of its own
// or, with S3.Bucket set, into an S3-compatible bucket.
type Backup struct {
	Enabled bool `json:"enabled"`
	// Schedule is a five-field cron expression (or @daily and the like), in UTC.
	Schedule string `json:"schedule"`
	// Retention is how many dumps are kept: each run deletes all but the newest Retention.
	Retention int `json:"retention"`
	// StorageSize is the backup volume claim's, of Postgres.StorageClass; with a bucket, the scratch
	// space a dump is written to before its upload.
	StorageSize string   `json:"storageSize"`
	S3          BackupS3 `json:"s3"`
}

// BackupS3 is a bucket of an S3-compatible service the dumps go into, off the cluster, so that they
// outlive it. It is used when Bucket is set.
type BackupS3 struct {
	// Endpoint is the service's URL, http(s)://HOST[:PORT]; requests are path-style.
	Endpoint string `json:"endpoint"`
	Bucket   string `json:"bucket"`
	// Prefix starts every key, e.g. "nexios/prod/".
	Prefix string `json:"prefix"`
	Region string `json:"region"`
	// AccessKeyID and SecretAccessKey may list, put, get and delete objects under Prefix; the secret
	// key must be stored encrypted.
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
}

// Enabled reports whether the dumps go into a bucket.
func (s BackupS3) Enabled() bool { return s != BackupS3{} }

// App configures the Nexios application.
type App struct {
	// Name is the application's name, used in labels and resource names.
	Name string `json:"name"`
	// Image is a container image reference with a tag or a digest.
	Image string `json:"image"`
	// Replicas is the fixed replica count, used only when autoscaling is off.
	Replicas int `json:"replicas"`
	// Port is the container port the ASGI server listens on.
	Port int `json:"port"`
	// Env is plain environment, delivered through a ConfigMap.
	Env map[string]string `json:"env"`
	// SecretEnv is sensitive environment, delivered through the stack's Secret; it must be set with --secret.
	SecretEnv map[string]string `json:"secretEnv"`
	// ConfigFiles are files (name to content) mounted read-only at ConfigMountPath.
	ConfigFiles     map[string]string `json:"configFiles"`
	ConfigMountPath string            `json:"configMountPath"`

	Resources        Resources        `json:"resources"`
	Probes           Probes           `json:"probes"`
	Metrics          Metrics          `json:"metrics"`
	Rollout          Rollout          `json:"rollout"`
	Autoscaling      Autoscaling      `json:"autoscaling"`
	Disruption       Disruption       `json:"disruptionBudget"`
	HighAvailability HighAvailability `json:"highAvailability"`
	Service          Service          `json:"service"`
	Ingress          Ingress          `json:"ingress"`
	NetworkPolicy    NetworkPolicy    `json:"networkPolicy"`
	Volumes          []Volume         `json:"volumes"`
	Quota            Quota            `json:"quota"`
	LimitRange       LimitRange       `json:"limitRange"`
	ServiceAccount   ServiceAccount   `json:"serviceAccount"`
}

// Resources are the container's requests and limits; both are required.
type Resources struct {
	Requests ResourceList `json:"requests"`
	Limits   ResourceList `json:"limits"`
}

// ResourceList holds Kubernetes quantities such as "250m" or "256Mi".
type ResourceList struct {
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
}

// Probes configures the three health checks.
type Probes struct {
	Liveness  Probe `json:"liveness"`
	Readiness Probe `json:"readiness"`
	Startup   Probe `json:"startup"`
}

// Probe is an HTTP GET check against the app's port.
type Probe struct {
	Path                string `json:"path"`
	InitialDelaySeconds int    `json:"initialDelaySeconds"`
	PeriodSeconds       int    `json:"periodSeconds"`
	TimeoutSeconds      int    `json:"timeoutSeconds"`
	FailureThreshold    int    `json:"failureThreshold"`
}

// Metrics says where the app serves Prometheus metrics; Port 0 means the app's own port.
type Metrics struct {
	Path string `json:"path"`
	Port int    `json:"port"`
}

// Rollout tunes rolling updates; maxUnavailable is always 0 so a rollout never lowers capacity.
type Rollout struct {
	// MaxSurge is a count (1) or a percentage ("25%").
	MaxSurge                CountOrPercent `json:"maxSurge"`
	RevisionHistoryLimit    int            `json:"revisionHistoryLimit"`
	MinReadySeconds         int            `json:"minReadySeconds"`
	ProgressDeadlineSeconds int            `json:"progressDeadlineSeconds"`
	// PreStopSleepSeconds keeps a terminating pod serving while endpoints converge.
	PreStopSleepSeconds           int `json:"preStopSleepSeconds"`
	TerminationGracePeriodSeconds int `json:"terminationGracePeriodSeconds"`
	// BakeSeconds is how long `deploy up --verify` watches a release after its rollout before calling it good.
	BakeSeconds int `json:"bakeSeconds"`
}

// Autoscaling configures a HorizontalPodAutoscaler (autoscaling/v2).
type Autoscaling struct {
	Enabled     bool `json:"enabled"`
	MinReplicas int  `json:"minReplicas"`
	MaxReplicas int  `json:"maxReplicas"`
	// CPUUtilization is the target average CPU utilization in percent of requests; 0 turns it off.
	CPUUtilization int `json:"cpuUtilization"`
	// MemoryUtilization is the target average memory utilization in percent of requests; 0 turns it off.
	MemoryUtilization int `json:"memoryUtilization"`
	// CustomMetrics maps a per-pod metric name to its target average value, e.g. http_requests_per_second: "50".
	// It is the one place a scaling metric is switched on: the name is a built-in metric
	// (components/appmetrics) or one of MetricDefinitions.
	CustomMetrics map[string]Quantity `json:"customMetrics"`
	// MetricDefinitions declares the stack's own per-pod scaling metrics by name, computed from the
	// app's series; each must be named in CustomMetrics, which gives its target.
	MetricDefinitions map[string]MetricDefinition `json:"metricDefinitions"`
	Behavior          ScalingBehavior             `json:"behavior"`
}

// MetricDefinition is a stack's own scaling metric (see appmetrics.Definition, which it converts to).
type MetricDefinition struct {
	// Query is PromQL recording one series per (namespace, pod); $app stands for the matchers of the
	// app's series.
	Query string `json:"query"`
	// Title labels the dashboard panel; empty means the metric's name.
	Title string `json:"title"`
	// Unit is the panel's Grafana unit id; empty means "short".
	Unit string `json:"unit"`
}

// Definitions returns the stack's own scaling metrics as components/appmetrics takes them.
func (a Autoscaling) Definitions() map[string]appmetrics.Definition {
	defs := make(map[string]appmetrics.Definition, len(a.MetricDefinitions))
	for name, d := range a.MetricDefinitions {
		defs[name] = appmetrics.Definition(d)
	}
	return defs
}

// ScalingBehavior bounds how fast the HPA moves.
type ScalingBehavior struct {
	ScaleUpStabilizationSeconds   int `json:"scaleUpStabilizationSeconds"`
	ScaleDownStabilizationSeconds int `json:"scaleDownStabilizationSeconds"`
	// ScaleUpPercent and ScaleDownPercent cap the change per PeriodSeconds.
	ScaleUpPercent   int `json:"scaleUpPercent"`
	ScaleDownPercent int `json:"scaleDownPercent"`
	PeriodSeconds    int `json:"periodSeconds"`
}

// Disruption configures the PodDisruptionBudget.
type Disruption struct {
	Enabled bool `json:"enabled"`
	// MaxUnavailable is a count or percentage of pods that voluntary disruptions may take down at once.
	MaxUnavailable CountOrPercent `json:"maxUnavailable"`
}

// HighAvailability spreads pods across nodes and zones.
type HighAvailability struct {
	// SpreadAcrossZones and SpreadAcrossNodes add topology spread constraints.
	SpreadAcrossZones bool `json:"spreadAcrossZones"`
	SpreadAcrossNodes bool `json:"spreadAcrossNodes"`
	// AntiAffinity is "none", "preferred" or "required" pod anti-affinity on the node.
	AntiAffinity string `json:"antiAffinity"`
}

// Service exposes the app inside (or outside) the cluster on Port.
type Service struct {
	Type     string `json:"type"`
	Port     int    `json:"port"`
	NodePort int    `json:"nodePort"`
}

// Ingress routes external HTTP(S) traffic to the Service.
type Ingress struct {
	Enabled     bool              `json:"enabled"`
	ClassName   string            `json:"className"`
	Host        string            `json:"host"`
	Path        string            `json:"path"`
	Annotations map[string]string `json:"annotations"`
	TLS         IngressTLS        `json:"tls"`
}

// IngressTLS terminates TLS with an existing secret or one a cert-manager issuer creates.
type IngressTLS struct {
	Enabled bool `json:"enabled"`
	// SecretName names the TLS secret; empty derives one from the host.
	SecretName string `json:"secretName"`
	// ClusterIssuer, when set, asks cert-manager to issue the certificate.
	ClusterIssuer string `json:"clusterIssuer"`
}

// NetworkPolicy restricts traffic to and from the app's pods.
type NetworkPolicy struct {
	Enabled bool `json:"enabled"`
	// IngressControllerNamespace may reach the app port; monitoring.namespace may reach the metrics port.
	IngressControllerNamespace string `json:"ingressControllerNamespace"`
	// AllowFromNamespaces may reach the app port too (other teams' callers).
	AllowFromNamespaces []string `json:"allowFromNamespaces"`
	// RestrictEgress allows only DNS and EgressPorts out of the pods.
	RestrictEgress bool  `json:"restrictEgress"`
	EgressPorts    []int `json:"egressPorts"`
}

// Volume is a PersistentVolumeClaim mounted into the app container.
type Volume struct {
	Name         string `json:"name"`
	MountPath    string `json:"mountPath"`
	Size         string `json:"size"`
	StorageClass string `json:"storageClass"`
	AccessMode   string `json:"accessMode"`
}

// Quota caps what the namespace may request in total.
type Quota struct {
	Enabled        bool   `json:"enabled"`
	RequestsCPU    string `json:"requestsCpu"`
	RequestsMemory string `json:"requestsMemory"`
	LimitsCPU      string `json:"limitsCpu"`
	LimitsMemory   string `json:"limitsMemory"`
	Pods           int    `json:"pods"`
}

// LimitRange gives containers that omit them default requests and limits (the app never does).
type LimitRange struct {
	Enabled bool `json:"enabled"`
}

// ServiceAccount configures the pods' identity; without rules it has no API access and no token.
type ServiceAccount struct {
	Rules []PolicyRule `json:"rules"`
}

// PolicyRule is one namespaced RBAC rule granted to the app.
type PolicyRule struct {
	APIGroups []string `json:"apiGroups"`
	Resources []string `json:"resources"`
	Verbs     []string `json:"verbs"`
}

// Secrets configures the generated per-stack secrets.
type Secrets struct {
	// Rotation values are kept by each generated password: changing one regenerates that password.
	Rotation SecretRotation `json:"rotation"`
}

// SecretRotation holds one rotation value per generated secret.
type SecretRotation struct {
	AppSecretKey         string `json:"appSecretKey"`
	GrafanaAdminPassword string `json:"grafanaAdminPassword"`
	ElasticPassword      string `json:"elasticPassword"`
	// KibanaSystemPassword is Kibana's own Elasticsearch user (kibana_system); the logging setup Job
	// sets it again whenever it changes.
	KibanaSystemPassword string `json:"kibanaSystemPassword"`
	// FluentBitWriterPassword is Fluent Bit's Elasticsearch user (fluentbit_writer), generated with
	// logging; GrafanaReaderPassword is Grafana's (grafana_reader), generated with both monitoring and
	// logging. The setup Job sets either again whenever it changes.
	FluentBitWriterPassword string `json:"fluentBitWriterPassword"`
	GrafanaReaderPassword   string `json:"grafanaReaderPassword"`
}

// Monitoring configures the monitoring stack (Prometheus, Alertmanager, Grafana).
type Monitoring struct {
	Enabled   bool   `json:"enabled"`
	Namespace string `json:"namespace"`
	// Mode is "bundled" (deploy Prometheus) or "operator" (emit ServiceMonitor/PrometheusRule for an existing operator).
	Mode          string       `json:"mode"`
	Retention     string       `json:"retention"`
	RetentionSize string       `json:"retentionSize"`
	StorageSize   string       `json:"storageSize"`
	Alertmanager  Alertmanager `json:"alertmanager"`
	Alerts        Alerts       `json:"alerts"`
	Grafana       Grafana      `json:"grafana"`
	// Prometheus sizes the server; Adapter replicates the custom-metrics adapter the HPA reads.
	Prometheus PrometheusServer `json:"prometheus"`
	Adapter    MetricsAdapter   `json:"adapter"`
}

// PrometheusServer sizes the Prometheus server.
type PrometheusServer struct {
	Resources Resources `json:"resources"`
}

// MetricsAdapter configures prometheus-adapter.
type MetricsAdapter struct {
	Replicas int `json:"replicas"`
}

// Alertmanager configures alert delivery.
type Alertmanager struct {
	Replicas int `json:"replicas"`
	// WebhookURL and SlackWebhookURL receive alerts; they are secrets.
	WebhookURL      string `json:"webhookUrl"`
	SlackWebhookURL string `json:"slackWebhookUrl"`
}

// Alerts holds the thresholds of the generated alert rules.
type Alerts struct {
	ErrorRatePercent   float64 `json:"errorRatePercent"`
	LatencyP95Seconds  float64 `json:"latencyP95Seconds"`
	RestartsPerHour    int     `json:"restartsPerHour"`
	PVCUsagePercent    int     `json:"pvcUsagePercent"`
	HPAAtMaxForMinutes int     `json:"hpaAtMaxForMinutes"`
	// ErrorRateForMinutes and LatencyForMinutes are how long a breach must last before its alert fires.
	ErrorRateForMinutes int `json:"errorRateForMinutes"`
	LatencyForMinutes   int `json:"latencyForMinutes"`
}

// Grafana configures dashboards and their optional ingress.
type Grafana struct {
	IngressHost string `json:"ingressHost"`
}

// Logging configures the EFK stack (Elasticsearch, Fluent Bit, Kibana).
type Logging struct {
	Enabled       bool          `json:"enabled"`
	Namespace     string        `json:"namespace"`
	RetentionDays int           `json:"retentionDays"`
	Elasticsearch Elasticsearch `json:"elasticsearch"`
	Kibana        Kibana        `json:"kibana"`
	Snapshots     Snapshots     `json:"snapshots"`
}

// Snapshots configures Elasticsearch's snapshots of the logs (snapshot lifecycle management) into a
// shared filesystem repository on a ReadWriteMany volume claim.
type Snapshots struct {
	Enabled bool `json:"enabled"`
	// Schedule is an Elasticsearch cron expression, seconds first ("0 30 1 * * ?": daily at 01:30 UTC).
	Schedule string `json:"schedule"`
	// ExpireAfterDays deletes older snapshots, keeping between MinCount and MaxCount of them.
	ExpireAfterDays int `json:"expireAfterDays"`
	MinCount        int `json:"minCount"`
	MaxCount        int `json:"maxCount"`
	// StorageSize is the shared volume's; StorageClass must provision ReadWriteMany volumes (empty:
	// the cluster's default class).
	StorageSize  string `json:"storageSize"`
	StorageClass string `json:"storageClass"`
}

// Elasticsearch sizes the log store.
type Elasticsearch struct {
	Replicas    int    `json:"replicas"`
	StorageSize string `json:"storageSize"`
	// StorageClass names the class of the data volumes; empty means the cluster's default class.
	StorageClass string `json:"storageClass"`
	// EphemeralStorage keeps the data on an emptyDir instead of a PersistentVolumeClaim: for clusters
	// without a storage provisioner (the local kwok cluster); the logs die with the pod.
	EphemeralStorage bool      `json:"ephemeralStorage"`
	Resources        Resources `json:"resources"`
}

// Kibana configures the log UI: its replica count and optional ingress.
type Kibana struct {
	Replicas    int    `json:"replicas"`
	IngressHost string `json:"ingressHost"`
}
