package kube

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// AnnotationSkipAwait tells the Kubernetes provider to report a resource created or updated as soon as
// the API server has accepted it, without its readiness logic (pulumi-kubernetes
// provider/pkg/metadata: SkipAwaitLogic; it also skips the await of a refresh).
const AnnotationSkipAwait = "pulumi.com/skipAwait"

// Backend is the workload a Service sends traffic to, as the component passes it to the workload's
// constructor: the namespace input of the workload's metadata and its pod template.
type Backend struct {
	Namespace pulumi.StringPtrInput
	Template  *corev1.PodTemplateSpecArgs
}

// NewService creates a Service in front of backend, after CheckServiceBackend has proved that the
// Service selects backend's pods and that every port it routes is a port of their containers.
//
// Why the provider's Service await is skipped. For a Service with a selector, pulumi-kubernetes 4.25
// (provider/pkg/await/service.go) reports success only once the Service's Endpoints have had no update
// for 10 seconds: every endpoint event starts a fixed `time.Sleep(10 * time.Second)`, so every such
// Service costs at least 10 s however fast its pods are ready (two thirds of a first `up` of the dev
// stack, issue 12). What that await establishes is that the Service targets at least one ready pod,
// and none that is not ready. The program establishes the same, faster, from two facts:
//
//   - here, at construction: the selector is a non-empty subset of the backend's pod-template labels,
//     the Service lives in the backend's namespace, and each targetPort names (or numbers) a port of
//     one of the pod's containers with the same protocol. A selector typo or a port name that does not
//     exist is an error of the program, which names the Service, before anything reaches the cluster
//     (in a preview as much as in an up);
//   - at run time: the backend's Deployment or StatefulSet keeps the provider's own await, which
//     returns only once the rollout is complete and every replica is Ready, and every component
//     validates at least one replica. Its pods are then exactly the ready endpoints the Service
//     selects; the endpoint controller publishes them within moments of their readiness.
//
// A LoadBalancer Service keeps the provider's await: its external address comes from outside the
// cluster and nothing here can prove it will be allocated. So does a Service whose type is not a
// plain value at construction. NodePort is a ClusterIP Service with a port on each node, which the
// provider awaits exactly like a ClusterIP one, so it is skipped too.
func NewService(ctx *pulumi.Context, resourceName string, args *corev1.ServiceArgs, backend Backend, opts ...pulumi.ResourceOption) (*corev1.Service, error) {
	if args == nil {
		return nil, fmt.Errorf("service %s: args are required", resourceName)
	}
	if err := CheckServiceBackend(args, backend); err != nil {
		return nil, fmt.Errorf("service %s: %w", resourceName, err)
	}
	withAnnotation := *args
	if SkipsProviderAwait(args) {
		meta, err := annotated(args.Metadata, AnnotationSkipAwait, "true")
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", resourceName, err)
		}
		withAnnotation.Metadata = meta
	}
	service, err := corev1.NewService(ctx, resourceName, &withAnnotation, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating service %s: %w", resourceName, err)
	}
	return service, nil
}

// GoverningService is a headless Service whose name its own backend's pods need (a StatefulSet's
// peers find each other at <pod>.<service>, and their certificates and flags say so), so the Service
// must be registered before the pod template can be built. Check then proves what NewService proves,
// and the component calls it before it registers the workload: a broken selector or port still stops
// the program before the workload exists, in a preview before anything does.
//
// Deferring the proof loses nothing the provider gave: for a headless Service it never waited for
// endpoints (provider/pkg/await/service.go: shouldWaitForPods is false when clusterIP is None), only
// for the object to exist.
type GoverningService struct {
	*corev1.Service
	resourceName string
	args         *corev1.ServiceArgs
}

// NewGoverningService creates the headless Service of args, skipping the provider's await as
// NewService does; call Check with the backend before registering the backend.
func NewGoverningService(ctx *pulumi.Context, resourceName string, args *corev1.ServiceArgs, opts ...pulumi.ResourceOption) (*GoverningService, error) {
	if args == nil {
		return nil, fmt.Errorf("service %s: args are required", resourceName)
	}
	spec, _ := args.Spec.(*corev1.ServiceSpecArgs)
	if ip, _ := clusterIP(spec); ip != "None" {
		return nil, fmt.Errorf("service %s: a governing service must be headless (clusterIP None)", resourceName)
	}
	meta, err := annotated(args.Metadata, AnnotationSkipAwait, "true")
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", resourceName, err)
	}
	withAnnotation := *args
	withAnnotation.Metadata = meta
	service, err := corev1.NewService(ctx, resourceName, &withAnnotation, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating service %s: %w", resourceName, err)
	}
	return &GoverningService{Service: service, resourceName: resourceName, args: args}, nil
}

// Check proves that the Service selects backend's pods and routes to their ports (CheckServiceBackend).
func (g *GoverningService) Check(backend Backend) error {
	if err := CheckServiceBackend(g.args, backend); err != nil {
		return fmt.Errorf("service %s: %w", g.resourceName, err)
	}
	return nil
}

// SkipsProviderAwait reports whether NewService skips the provider's await for a Service of these args:
// every type but LoadBalancer, when the type is a plain value (an unset type is ClusterIP).
func SkipsProviderAwait(args *corev1.ServiceArgs) bool {
	spec, ok := args.Spec.(*corev1.ServiceSpecArgs)
	if !ok || spec == nil {
		return false
	}
	if spec.Type == nil {
		return true
	}
	typ, ok := spec.Type.(pulumi.String)
	return ok && string(typ) != "LoadBalancer" && string(typ) != "ExternalName"
}

// clusterIP returns the spec's plain clusterIP, "" when unset or not plain.
func clusterIP(spec *corev1.ServiceSpecArgs) (string, bool) {
	if spec == nil || spec.ClusterIP == nil {
		return "", false
	}
	ip, ok := spec.ClusterIP.(pulumi.String)
	return string(ip), ok
}

// annotated returns a copy of meta with one more annotation; meta's own annotations must be a plain map.
func annotated(meta metav1.ObjectMetaPtrInput, key, value string) (*metav1.ObjectMetaArgs, error) {
	var out metav1.ObjectMetaArgs
	if meta != nil {
		m, ok := meta.(*metav1.ObjectMetaArgs)
		if !ok {
			return nil, fmt.Errorf("metadata is a %T; want *metav1.ObjectMetaArgs to add %s", meta, key)
		}
		if m != nil {
			out = *m
		}
	}
	annotations := pulumi.StringMap{}
	if out.Annotations != nil {
		existing, ok := out.Annotations.(pulumi.StringMap)
		if !ok {
			return nil, fmt.Errorf("annotations are a %T; want pulumi.StringMap to add %s", out.Annotations, key)
		}
		for k, v := range existing {
			annotations[k] = v
		}
	}
	annotations[key] = pulumi.String(value)
	out.Annotations = annotations
	return &out, nil
}

// CheckServiceBackend returns an error unless the Service of args can only ever route to backend's pods
// on ports they declare: its selector is a non-empty subset of the pod template's labels, its
// namespace is the backend's (the same input), and each port's targetPort (its port when unset) is a
// container port of the pod, by name when it is a name, with the same protocol (TCP when unset), as
// the endpoint controller resolves it. Every value involved must be plain at construction: a value
// known only at deployment could not be proved and is an error too.
func CheckServiceBackend(args *corev1.ServiceArgs, backend Backend) error {
	if args == nil {
		return errors.New("no service args")
	}
	spec, ok := args.Spec.(*corev1.ServiceSpecArgs)
	if !ok || spec == nil {
		return fmt.Errorf("spec is a %T; want *corev1.ServiceSpecArgs", args.Spec)
	}
	if backend.Template == nil {
		return errors.New("no backend pod template")
	}
	var errs []error

	meta, _ := args.Metadata.(*metav1.ObjectMetaArgs)
	if meta == nil || !sameInput(meta.Namespace, backend.Namespace) {
		errs = append(errs, errors.New("namespace is not the backend workload's: a Service selects pods of its own namespace only"))
	}

	selector, selectorErr := plainStringMap(spec.Selector)
	if selectorErr != nil {
		errs = append(errs, fmt.Errorf("selector: %w", selectorErr))
	}
	var podLabels map[string]string
	var labelsErr error
	if podMeta, _ := backend.Template.Metadata.(*metav1.ObjectMetaArgs); podMeta != nil {
		podLabels, labelsErr = plainStringMap(podMeta.Labels)
		if labelsErr != nil {
			errs = append(errs, fmt.Errorf("pod template labels: %w", labelsErr))
		}
	}
	if selectorErr == nil && labelsErr == nil {
		errs = append(errs, selectorErrors(selector, podLabels)...)
	}

	podSpec, _ := backend.Template.Spec.(*corev1.PodSpecArgs)
	if podSpec == nil {
		return errors.Join(append(errs, errors.New("backend pod template has no spec"))...)
	}
	ports, err := containerPorts(podSpec)
	if err != nil {
		errs = append(errs, err)
	}
	servicePorts, ok := spec.Ports.(corev1.ServicePortArray)
	if !ok || len(servicePorts) == 0 {
		errs = append(errs, fmt.Errorf("ports are a %T of %d; want a non-empty corev1.ServicePortArray", spec.Ports, len(servicePorts)))
	}
	for i, in := range servicePorts {
		if err := checkServicePort(i, in, ports); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// selectorErrors lists why selector does not select pods labelled podLabels.
func selectorErrors(selector, podLabels map[string]string) []error {
	if len(selector) == 0 {
		// A Service without a selector gets no endpoints from the controller: nothing to prove it routes.
		return []error{errors.New("selector is empty; a Service in front of a workload must select its pods")}
	}
	var errs []error
	keys := make([]string, 0, len(selector))
	for k := range selector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		got, found := podLabels[k]
		switch {
		case !found:
			errs = append(errs, fmt.Errorf("selector %s=%s: the backend's pods have no label %s", k, selector[k], k))
		case got != selector[k]:
			errs = append(errs, fmt.Errorf("selector %s=%s: the backend's pods have %s=%s", k, selector[k], k, got))
		}
	}
	return errs
}

// containerPort is a port a pod's container declares.
type containerPort struct {
	name     string
	number   int
	protocol string
}

func (p containerPort) String() string {
	if p.name == "" {
		return fmt.Sprintf("%d/%s", p.number, p.protocol)
	}
	return fmt.Sprintf("%s (%d/%s)", p.name, p.number, p.protocol)
}

// containerPorts lists the ports of the pod's containers: the endpoint controller resolves a named
// targetPort against these, not against init containers.
func containerPorts(spec *corev1.PodSpecArgs) ([]containerPort, error) {
	containers, ok := spec.Containers.(corev1.ContainerArray)
	if !ok {
		return nil, fmt.Errorf("containers are a %T; want corev1.ContainerArray", spec.Containers)
	}
	var out []containerPort
	for i, in := range containers {
		c, ok := plainArgs[corev1.ContainerArgs](in)
		if !ok {
			return nil, fmt.Errorf("container %d is a %T; want corev1.ContainerArgs", i, in)
		}
		if c.Ports == nil {
			continue
		}
		ports, ok := c.Ports.(corev1.ContainerPortArray)
		if !ok {
			return nil, fmt.Errorf("container %d: ports are a %T; want corev1.ContainerPortArray", i, c.Ports)
		}
		for j, pin := range ports {
			p, ok := plainArgs[corev1.ContainerPortArgs](pin)
			if !ok {
				return nil, fmt.Errorf("container %d port %d is a %T; want corev1.ContainerPortArgs", i, j, pin)
			}
			number, ok := p.ContainerPort.(pulumi.Int)
			if !ok {
				return nil, fmt.Errorf("container %d port %d: containerPort is a %T; want a plain pulumi.Int", i, j, p.ContainerPort)
			}
			name, err := plainOptionalString(p.Name)
			if err != nil {
				return nil, fmt.Errorf("container %d port %d: name: %w", i, j, err)
			}
			protocol, err := plainOptionalString(p.Protocol)
			if err != nil {
				return nil, fmt.Errorf("container %d port %d: protocol: %w", i, j, err)
			}
			out = append(out, containerPort{name: name, number: int(number), protocol: protocolOrTCP(protocol)})
		}
	}
	return out, nil
}

// checkServicePort proves that the endpoint controller resolves the i-th Service port to a port the
// pod declares.
func checkServicePort(i int, in corev1.ServicePortInput, ports []containerPort) error {
	sp, ok := plainArgs[corev1.ServicePortArgs](in)
	if !ok {
		return fmt.Errorf("port %d is a %T; want corev1.ServicePortArgs", i, in)
	}
	protocol, err := plainOptionalString(sp.Protocol)
	if err != nil {
		return fmt.Errorf("port %d: protocol: %w", i, err)
	}
	protocol = protocolOrTCP(protocol)
	var matches func(containerPort) bool
	var target string
	switch t := sp.TargetPort.(type) {
	case pulumi.String:
		target = string(t)
		matches = func(p containerPort) bool { return p.name == string(t) && p.protocol == protocol }
	case pulumi.Int:
		target = fmt.Sprint(int(t))
		matches = func(p containerPort) bool { return p.number == int(t) && p.protocol == protocol }
	case nil:
		// Kubernetes defaults targetPort to the Service port.
		port, ok := sp.Port.(pulumi.Int)
		if !ok {
			return fmt.Errorf("port %d: port is a %T; want a plain pulumi.Int", i, sp.Port)
		}
		target = fmt.Sprint(int(port))
		matches = func(p containerPort) bool { return p.number == int(port) && p.protocol == protocol }
	default:
		return fmt.Errorf("port %d: targetPort is a %T; want a plain pulumi.String (a port name) or pulumi.Int", i, sp.TargetPort)
	}
	if slices.ContainsFunc(ports, matches) {
		return nil
	}
	declared := make([]string, len(ports))
	for j, p := range ports {
		declared[j] = p.String()
	}
	return fmt.Errorf("port %d: targetPort %s/%s is not a port of the backend's containers (they declare: %s)",
		i, target, protocol, strings.Join(declared, ", "))
}

func protocolOrTCP(p string) string {
	if p == "" {
		return "TCP"
	}
	return p
}

// plainArgs returns the args struct an array element holds, by value or by pointer (both satisfy the
// element's input interface).
func plainArgs[T any](in any) (T, bool) {
	switch v := in.(type) {
	case T:
		return v, true
	case *T:
		if v != nil {
			return *v, true
		}
	}
	var zero T
	return zero, false
}

// plainStringMap returns the plain values of a pulumi.StringMap of pulumi.String.
func plainStringMap(in pulumi.StringMapInput) (map[string]string, error) {
	if in == nil {
		return nil, nil
	}
	m, ok := in.(pulumi.StringMap)
	if !ok {
		return nil, fmt.Errorf("is a %T; want a plain pulumi.StringMap", in)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(pulumi.String)
		if !ok {
			return nil, fmt.Errorf("%s is a %T; want a plain pulumi.String", k, v)
		}
		out[k] = string(s)
	}
	return out, nil
}

// plainOptionalString returns the value of an optional pulumi.String, "" when unset.
func plainOptionalString(in pulumi.StringPtrInput) (string, error) {
	if in == nil {
		return "", nil
	}
	s, ok := in.(pulumi.String)
	if !ok {
		return "", fmt.Errorf("is a %T; want a plain pulumi.String", in)
	}
	return string(s), nil
}

// sameInput reports whether two inputs are the same value: the same Output (the namespace every child
// of a component is given) or equal plain strings.
func sameInput(a, b pulumi.Input) bool {
	if a == nil || b == nil {
		return false
	}
	if reflect.TypeOf(a) != reflect.TypeOf(b) || !reflect.TypeOf(a).Comparable() {
		return false
	}
	return a == b
}
