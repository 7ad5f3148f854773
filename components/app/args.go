package app

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// AppArgs configure an App. Plain Go fields decide which resources exist; pulumi inputs carry values
// that may come from other resources (the image, secret values).
type AppArgs struct {
	// Name labels the app's objects (app.kubernetes.io/name). Default "nexios".
	Name string
	// Namespace is created by the component with the `restricted` Pod Security level.
	Namespace string
	// Environment is recorded as a label on every object.
	Environment string

	Image pulumi.StringInput
	// Replicas applies only without Autoscaling: an HPA owns the replica count.
	Replicas int
	// Port is the container port. Default 8000.
	Port int
	// Metrics is where Prometheus scrapes; Port 0 means the app's port.
	Metrics MetricsEndpoint

	// Env is plain environment, delivered through a ConfigMap.
	Env pulumi.StringMap
	// SecretEnv, DatabaseURL and SecretKey are delivered through the stack's Secret and stay secret.
	SecretEnv   pulumi.StringMap
	DatabaseURL pulumi.StringInput
	SecretKey   pulumi.StringInput
	// ConfigFiles are mounted read-only at ConfigMountPath (default /etc/nexios).
	ConfigFiles     pulumi.StringMap
	ConfigMountPath string

	// Resources size the app container; EphemeralStorage defaults to defaultEphemeralStorage.
	Resources kube.Resources
	Probes    Probes
	Rollout   Rollout
	// HighAvailability spreads pods across zones and nodes.
	HighAvailability HighAvailability
	Service          Service
	Volumes          []Volume
	// RBACRules, when present, get a Role bound to the app's ServiceAccount, and its token is mounted.
	RBACRules []PolicyRule

	// Optional parts: nil leaves them out.
	Autoscaling      *Autoscaling
	DisruptionBudget *DisruptionBudget
	Ingress          *Ingress
	NetworkPolicy    *NetworkPolicy
	Quota            *Quota
	// LimitRange gives containers that omit resources the app's own requests and limits as defaults.
	LimitRange bool
}

// MetricsEndpoint locates the Prometheus metrics.
type MetricsEndpoint struct {
	Path string
	Port int
}

// Probes are the app's three health checks.
type Probes struct {
	Liveness, Readiness, Startup kube.HTTPProbe
}

// Rollout tunes rolling updates. MaxUnavailable is always 0.
type Rollout struct {
	MaxSurge                      string
	RevisionHistoryLimit          int
	MinReadySeconds               int
	ProgressDeadlineSeconds       int
	PreStopSleepSeconds           int
	TerminationGracePeriodSeconds int
}

// HighAvailability adds topology spread constraints and pod anti-affinity.
type HighAvailability struct {
	SpreadAcrossZones bool
	SpreadAcrossNodes bool
	// AntiAffinity is "none", "preferred" or "required".
	AntiAffinity string
}

// Service exposes the app on Port (default 80).
type Service struct {
	Type     string
	Port     int
	NodePort int
}

// Volume is a PersistentVolumeClaim mounted into the container.
type Volume struct {
	Name, MountPath, Size, StorageClass, AccessMode string
}

// PolicyRule is a namespaced RBAC rule.
type PolicyRule struct {
	APIGroups, Resources, Verbs []string
}

// Autoscaling configures the HorizontalPodAutoscaler.
type Autoscaling struct {
	MinReplicas, MaxReplicas int
	// CPUUtilization and MemoryUtilization are percentages of requests; 0 leaves the metric out.
	CPUUtilization, MemoryUtilization int
	// CustomMetrics maps a per-pod metric to its target average value.
	CustomMetrics map[string]string
	Behavior      ScalingBehavior
}

// ScalingBehavior bounds how fast the HPA scales.
type ScalingBehavior struct {
	ScaleUpStabilizationSeconds, ScaleDownStabilizationSeconds int
	ScaleUpPercent, ScaleDownPercent, PeriodSeconds            int
}

// DisruptionBudget limits voluntary disruptions.
type DisruptionBudget struct {
	MaxUnavailable string
}

// Ingress routes external traffic to the Service.
type Ingress struct {
	ClassName   string
	Host        string
	Path        string
	Annotations map[string]string
	// TLS is nil for plain HTTP.
	TLS *IngressTLS
}

// IngressTLS terminates TLS with SecretName, issued by ClusterIssuer when set.
type IngressTLS struct {
	SecretName    string
	ClusterIssuer string
}

// NetworkPolicy denies ingress by default and allows the named namespaces.
type NetworkPolicy struct {
	IngressControllerNamespace string
	MonitoringNamespace        string
	AllowFromNamespaces        []string
	// RestrictEgress allows only DNS and EgressPorts out.
	RestrictEgress bool
	EgressPorts    []int
}

// Quota caps the namespace's total requests, limits and pods.
type Quota struct {
	RequestsCPU, RequestsMemory, LimitsCPU, LimitsMemory string
	Pods                                                 int
}

// withDefaults returns a copy of args with empty fields filled.
func (a AppArgs) withDefaults() AppArgs {
	if a.Name == "" {
		a.Name = "nexios"
	}
	if a.Port == 0 {
		// Nexios apps serve on 8000 under uvicorn/granian by convention, as in the course chapter.
		a.Port = 8000
	}
	if a.Metrics.Path == "" {
		a.Metrics.Path = "/metrics"
	}
	if a.Metrics.Port == 0 {
		a.Metrics.Port = a.Port
	}
	if a.ConfigMountPath == "" {
		a.ConfigMountPath = "/etc/nexios"
	}
	if a.Service.Type == "" {
		a.Service.Type = "ClusterIP"
	}
	if a.Service.Port == 0 {
		a.Service.Port = 80
	}
	if a.Rollout.MaxSurge == "" {
		a.Rollout.MaxSurge = "25%"
	}
	if a.Rollout.RevisionHistoryLimit == 0 {
		// Enough history to roll back several releases.
		a.Rollout.RevisionHistoryLimit = 10
	}
	if a.Rollout.ProgressDeadlineSeconds == 0 {
		a.Rollout.ProgressDeadlineSeconds = 600
	}
	if a.Rollout.TerminationGracePeriodSeconds == 0 {
		a.Rollout.TerminationGracePeriodSeconds = 30
	}
	if a.HighAvailability.AntiAffinity == "" {
		a.HighAvailability.AntiAffinity = "none"
	}
	a.Probes.Liveness = probeDefaults(a.Probes.Liveness, "/health", 10, 3)
	a.Probes.Readiness = probeDefaults(a.Probes.Readiness, "/ready", 5, 3)
	// Startup allows a cold Python process a minute before liveness may restart it.
	a.Probes.Startup = probeDefaults(a.Probes.Startup, "/health", 2, 30)
	// The stack files size CPU and memory only: the local disk follows from the pod's volumes.
	a.Resources = a.Resources.WithEphemeralStorage(defaultEphemeralStorage)
	return a
}

// defaultEphemeralStorage is the app container's local disk: the root filesystem is read-only, so it
// is the /tmp emptyDir (tmpVolumeSizeLimit, which holds dev's SQLite database) and the container's
// logs (kube.ContainerLogAllowance), with room to spare. The request is what those two hold when
// full; PersistentVolumeClaims are not ephemeral storage and count for nothing here.
var defaultEphemeralStorage = kube.EphemeralStorage{Request: "128Mi", Limit: "256Mi"}

func probeDefaults(p kube.HTTPProbe, path string, period, failures int) kube.HTTPProbe {
	if p.Path == "" {
		p.Path = path
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = period
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 2
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = failures
	}
	return p
}

// validate reports every argument that cannot produce a working app, all at once.
func (a AppArgs) validate() error {
	var errs []error
	if a.Namespace == "" {
		errs = append(errs, errors.New("Namespace is required"))
	}
	if a.Image == nil {
		errs = append(errs, errors.New("Image is required"))
	}
	if a.Autoscaling == nil && a.Replicas < 1 {
		errs = append(errs, fmt.Errorf("Replicas must be at least 1 without Autoscaling, got %d", a.Replicas))
	}
	if h := a.Autoscaling; h != nil {
		if h.MinReplicas < 1 || h.MaxReplicas < h.MinReplicas {
			errs = append(errs, fmt.Errorf("Autoscaling needs 1 <= MinReplicas <= MaxReplicas, got %d and %d", h.MinReplicas, h.MaxReplicas))
		}
		if h.CPUUtilization == 0 && h.MemoryUtilization == 0 && len(h.CustomMetrics) == 0 {
			errs = append(errs, errors.New("Autoscaling needs at least one metric"))
		}
	}
	if err := a.Resources.Validate(); err != nil {
		errs = append(errs, err)
	}
	if in := a.Ingress; in != nil && in.Host == "" {
		errs = append(errs, errors.New("Ingress.Host is required"))
	}
	switch a.HighAvailability.AntiAffinity {
	case "none", "preferred", "required":
	default:
		errs = append(errs, fmt.Errorf("HighAvailability.AntiAffinity %q is not none, preferred or required", a.HighAvailability.AntiAffinity))
	}
	switch a.Service.Type {
	case "ClusterIP", "NodePort", "LoadBalancer":
	default:
		errs = append(errs, fmt.Errorf("Service.Type %q is not ClusterIP, NodePort or LoadBalancer", a.Service.Type))
	}
	return errors.Join(errs...)
}
