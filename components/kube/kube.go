// Package kube holds the Kubernetes conventions every component shares, so labels, security contexts
// and probes are written once.
package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Well-known label keys.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelZone      = "topology.kubernetes.io/zone"
	LabelHostname  = "kubernetes.io/hostname"
	// LabelNamespaceName is set by Kubernetes on every namespace; NetworkPolicies select namespaces by it.
	LabelNamespaceName = "kubernetes.io/metadata.name"
	// LabelStack names the Pulumi stack that created an object, as StackIdentity: on a cluster several
	// stacks share, it says whose an object is (cmd/deploy refuses to take over another stack's
	// namespace or custom metrics API by it) and finds everything one stack left.
	LabelStack = "nexios.dev/stack"
)

// StackIdentity is the value of LabelStack for the running stack: "<project>.<stack>", unique per
// backend and short enough for a label value (ValidateStackIdentity).
func StackIdentity(ctx *pulumi.Context) string {
	return ctx.Project() + "." + ctx.Stack()
}

// labelValue is what Kubernetes accepts as a label value: at most 63 characters, alphanumerics, '-',
// '_' and '.', beginning and ending with an alphanumeric.
var labelValue = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$`)

// ValidateStackIdentity reports a project and stack whose StackIdentity Kubernetes would refuse as a
// label value, naming the fix.
func ValidateStackIdentity(project, stack string) error {
	if id := project + "." + stack; !labelValue.MatchString(id) {
		return fmt.Errorf("stack %q: every object carries the label %s=%s, and a label value is at most 63 letters, digits, '-', '_' and '.': "+
			"use a stack name of at most %d such characters", stack, LabelStack, id, max(1, 62-len(project)))
	}
	return nil
}

// Pod Security Admission levels.
const (
	PodSecurityRestricted = "restricted"
	PodSecurityBaseline   = "baseline"
	PodSecurityPrivileged = "privileged"
)

// NonRootUID is the user and group the containers run as; any non-zero ID satisfies `restricted`.
const NonRootUID = 10001

// SelectorLabels identify one component instance's pods; they never change over a workload's life,
// because a Deployment's selector is immutable.
func SelectorLabels(name, instance string) map[string]string {
	return map[string]string{LabelName: name, LabelInstance: instance}
}

// Labels are the full recommended label set for a component's objects.
func Labels(name, instance, component string) map[string]string {
	labels := SelectorLabels(name, instance)
	labels[LabelComponent] = component
	labels[LabelPartOf] = "nexios"
	labels[LabelManagedBy] = "pulumi"
	return labels
}

// ObjectLabels are the labels of a component's objects: Labels, the stack that owns them
// (LabelStack, which keeps stacks sharing a cluster apart) and, when set, the environment.
func ObjectLabels(ctx *pulumi.Context, name, instance, component, environment string) map[string]string {
	labels := Labels(name, instance, component)
	labels[LabelStack] = StackIdentity(ctx)
	if environment != "" {
		labels["environment"] = environment
	}
	return labels
}

// NamespaceLabels are the Pod Security Admission labels that enforce, audit and warn at level.
func NamespaceLabels(level string, extra map[string]string) pulumi.StringMap {
	labels := pulumi.StringMap{
		"pod-security.kubernetes.io/enforce":         pulumi.String(level),
		"pod-security.kubernetes.io/enforce-version": pulumi.String("latest"),
		"pod-security.kubernetes.io/audit":           pulumi.String(level),
		"pod-security.kubernetes.io/warn":            pulumi.String(level),
	}
	for k, v := range extra {
		labels[k] = pulumi.String(v)
	}
	return labels
}

// RestrictedPodSecurityContext satisfies the `restricted` Pod Security Standard at pod level.
func RestrictedPodSecurityContext() *corev1.PodSecurityContextArgs {
	return RestrictedPodSecurityContextAs(NonRootUID)
}

// RestrictedPodSecurityContextAs is RestrictedPodSecurityContext for an image built around a fixed
// non-root user (Elastic's images own their files as 1000), as user, group and volume group.
func RestrictedPodSecurityContextAs(uid int) *corev1.PodSecurityContextArgs {
	return &corev1.PodSecurityContextArgs{
		RunAsNonRoot:   pulumi.Bool(true),
		RunAsUser:      pulumi.Int(uid),
		RunAsGroup:     pulumi.Int(uid),
		FsGroup:        pulumi.Int(uid),
		SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// RestrictedContainerSecurityContext satisfies the `restricted` Pod Security Standard for a container,
// with a read-only root filesystem: writable paths must be volumes.
func RestrictedContainerSecurityContext() *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		RunAsNonRoot:             pulumi.Bool(true),
		AllowPrivilegeEscalation: pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// HTTPProbe is an HTTP GET health check with its timings.
type HTTPProbe struct {
	Path                string
	InitialDelaySeconds int
	PeriodSeconds       int
	TimeoutSeconds      int
	FailureThreshold    int
}

// Args renders the probe against a named container port.
func (p HTTPProbe) Args(portName string) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		HttpGet: &corev1.HTTPGetActionArgs{
			Path: pulumi.String(p.Path),
			Port: pulumi.String(portName),
		},
		InitialDelaySeconds: pulumi.Int(p.InitialDelaySeconds),
		PeriodSeconds:       pulumi.Int(p.PeriodSeconds),
		TimeoutSeconds:      pulumi.Int(p.TimeoutSeconds),
		FailureThreshold:    pulumi.Int(p.FailureThreshold),
	}
}

// ResourceList is a pair of CPU and memory quantities, as the stack files size them.
type ResourceList struct {
	CPU    string
	Memory string
}

// Resources are a container's requests and limits.
type Resources struct {
	Requests ResourceList
	Limits   ResourceList
	// EphemeralStorage is the container's share of the node's local disk. The stack files size only
	// CPU and memory, so it lives beside ResourceList rather than in it: each component sizes it per
	// workload, from the volumes it gives the pod. Empty leaves it unset.
	EphemeralStorage EphemeralStorage
}

// EphemeralStorage is a container's request and limit of local ephemeral storage. The kubelet counts
// the container's writable layer, its logs and the pod's disk-backed emptyDir volumes against it, and
// evicts the pod when the containers' limits together are exceeded; the scheduler places the pod
// only on a node with the requests free.
//
// The components bound every pod's local disk the same way: every container, init containers
// included, requests and limits it; every disk-backed emptyDir has a sizeLimit; and the containers'
// limits together cover those sizeLimits plus each container's ContainerLogAllowance. The kubelet then
// only ever evicts a pod for the one volume or container that outgrew its own bound, and says which.
// internal/podcheck asserts this of every rendered workload.
type EphemeralStorage struct {
	Request string
	Limit   string
}

// ContainerLogAllowance is what the kubelet keeps of one container's log with its default rotation
// (containerLogMaxSize 10Mi, containerLogMaxFiles 5). Those files count against the container's
// ephemeral-storage limit, so every limit leaves room for them on top of the pod's emptyDir volumes.
const ContainerLogAllowance = "50Mi"

// SmallEphemeralStorage is for a container that writes little beside its logs (exporters, agents,
// init steps, Jobs): the limit covers ContainerLogAllowance and a few MiB of scratch space.
var SmallEphemeralStorage = EphemeralStorage{Request: "64Mi", Limit: "128Mi"}

// WithEphemeralStorage returns r with e as its ephemeral storage, unless r already has one: a
// component's default for callers that size only CPU and memory.
func (r Resources) WithEphemeralStorage(e EphemeralStorage) Resources {
	if r.EphemeralStorage == (EphemeralStorage{}) {
		r.EphemeralStorage = e
	}
	return r
}

// Args renders the requirements for a container.
func (r Resources) Args() *corev1.ResourceRequirementsArgs {
	requests := pulumi.StringMap{"cpu": pulumi.String(r.Requests.CPU), "memory": pulumi.String(r.Requests.Memory)}
	limits := pulumi.StringMap{"cpu": pulumi.String(r.Limits.CPU), "memory": pulumi.String(r.Limits.Memory)}
	if e := r.EphemeralStorage; e != (EphemeralStorage{}) {
		requests["ephemeral-storage"] = pulumi.String(e.Request)
		limits["ephemeral-storage"] = pulumi.String(e.Limit)
	}
	return &corev1.ResourceRequirementsArgs{Requests: requests, Limits: limits}
}

// Validate reports missing quantities; the stacks package has already checked the CPU and memory
// values, so only the ephemeral storage, which components size themselves, is parsed here.
func (r Resources) Validate() error {
	if r.Requests.CPU == "" || r.Requests.Memory == "" || r.Limits.CPU == "" || r.Limits.Memory == "" {
		return fmt.Errorf("resources: requests and limits for cpu and memory are all required, got %+v", r)
	}
	e := r.EphemeralStorage
	if e == (EphemeralStorage{}) {
		return nil
	}
	if e.Request == "" || e.Limit == "" {
		return fmt.Errorf("resources: ephemeral storage needs both a request and a limit, got %+v", e)
	}
	request, err := ParseQuantity(e.Request)
	if err != nil {
		return fmt.Errorf("resources: ephemeral storage request: %w", err)
	}
	limit, err := ParseQuantity(e.Limit)
	if err != nil {
		return fmt.Errorf("resources: ephemeral storage limit: %w", err)
	}
	if request > limit {
		return fmt.Errorf("resources: ephemeral storage request %s is above its limit %s", e.Request, e.Limit)
	}
	return nil
}

// Checksum hashes string maps (config data, secret data) into one value for a pod-template annotation,
// so that a change to any of them rolls the pods. Secrecy propagates: a checksum over secrets is secret.
func Checksum(parts ...pulumi.StringMapInput) pulumi.StringOutput {
	inputs := make([]any, len(parts))
	for i, p := range parts {
		inputs[i] = p
	}
	return pulumi.All(inputs...).ApplyT(func(values []any) string {
		h := sha256.New()
		for i, v := range values {
			m, _ := v.(map[string]string)
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			// The part index and lengths keep ("ab","c") and ("a","bc") from hashing alike.
			fmt.Fprintf(h, "part %d\n", i)
			for _, k := range keys {
				fmt.Fprintf(h, "%d:%s=%d:%s\n", len(k), k, len(m[k]), m[k])
			}
		}
		return hex.EncodeToString(h.Sum(nil))
	}).(pulumi.StringOutput)
}

// StringMap converts plain labels into a Pulumi input.
func StringMap(m map[string]string) pulumi.StringMap {
	out := make(pulumi.StringMap, len(m))
	for k, v := range m {
		out[k] = pulumi.String(v)
	}
	return out
}

// IntOrString turns "3" into the integer 3 and keeps "25%" a string, as Kubernetes expects for
// fields such as maxSurge and maxUnavailable.
func IntOrString(s string) pulumi.Input {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		return pulumi.Int(n)
	}
	return pulumi.String(s)
}

// NewNamespace creates a namespace with a fixed name (other stacks' NetworkPolicies and people address
// namespaces by name) that enforces the Pod Security level.
func NewNamespace(ctx *pulumi.Context, resourceName, name, level string, labels map[string]string, opts ...pulumi.ResourceOption) (*corev1.Namespace, error) {
	ns, err := corev1.NewNamespace(ctx, resourceName, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:   pulumi.String(name),
			Labels: NamespaceLabels(level, labels),
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return ns, nil
}
