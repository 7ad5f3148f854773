// Package servicecheck asserts, on the inputs the mocks recorded, what lets the program skip the
// Kubernetes provider's Service await (components/kube.NewService): every Service that skips it
// selects the pods of a workload in its own namespace and routes to ports those pods declare, and that
// workload keeps its own await. It reads the rendered objects, independently of the construction-time
// proof, so a Service built around kube.NewService (or a proof weakened) still fails the tests.
package servicecheck

import (
	"fmt"
	"slices"
	"testing"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

// Type tokens.
const (
	TypeService     = "kubernetes:core/v1:Service"
	TypeDeployment  = "kubernetes:apps/v1:Deployment"
	TypeStatefulSet = "kubernetes:apps/v1:StatefulSet"
)

// skipAwait is the annotation's path in a resource's inputs.
var skipAwait = `metadata.annotations["` + kube.AnnotationSkipAwait + `"]`

// Services fails the test unless every Service the mocks recorded is one of:
//   - a LoadBalancer Service, which keeps the provider's await (no skip annotation);
//   - any other Service carrying the skip annotation, whose selector is non-empty and picks the pod
//     template of at least one Deployment or StatefulSet of its namespace, and each of whose ports
//     resolves to a container port of every such workload, by name or number and protocol.
//
// It also fails when a Deployment or StatefulSet skips its own await: its rollout is what proves the
// Services' pods Ready. It returns the number of Services checked, so callers can insist on some.
func Services(t testing.TB, m *mocktest.Mocks) int {
	t.Helper()
	workloads := append(m.OfType(TypeDeployment), m.OfType(TypeStatefulSet)...)
	for _, w := range workloads {
		if w.String(skipAwait) != "" {
			t.Errorf("%s %s has %s=%q: the workloads keep their await, which is what proves their Services' pods Ready",
				w.Type, w.Name, kube.AnnotationSkipAwait, w.String(skipAwait))
		}
	}
	services := m.OfType(TypeService)
	for _, s := range services {
		checkService(t, s, workloads)
	}
	return len(services)
}

func checkService(t testing.TB, s mocktest.Resource, workloads []mocktest.Resource) {
	t.Helper()
	annotation := s.String(skipAwait)
	if s.String("spec.type") == "LoadBalancer" {
		if annotation != "" {
			t.Errorf("Service %s is a LoadBalancer with %s=%q: its external address must be awaited", s.Name, kube.AnnotationSkipAwait, annotation)
		}
		return
	}
	if annotation != "true" {
		t.Errorf("Service %s (type %q) has %s=%q, want \"true\": the provider would wait its fixed 10 s settle",
			s.Name, s.String("spec.type"), kube.AnnotationSkipAwait, annotation)
	}
	selector := stringMap(s, "spec.selector")
	if len(selector) == 0 {
		t.Errorf("Service %s has no selector: nothing proves it routes to a Ready pod", s.Name)
		return
	}
	namespace := s.String("metadata.namespace")
	var backends []mocktest.Resource
	for _, w := range workloads {
		if w.String("metadata.namespace") != namespace {
			continue
		}
		labels := stringMap(w, "spec.template.metadata.labels")
		if selects(selector, labels) {
			backends = append(backends, w)
		}
	}
	if len(backends) == 0 {
		t.Errorf("Service %s in %q selects %v: no Deployment or StatefulSet of that namespace has such pods", s.Name, namespace, selector)
		return
	}
	for _, w := range backends {
		if replicas := w.Number("spec.replicas"); replicas == 0 {
			t.Errorf("Service %s: its backend %s has 0 replicas; nothing would be Ready", s.Name, w.Name)
		}
		ports := containerPorts(w)
		for i := range s.Len("spec.ports") {
			p := fmt.Sprintf("spec.ports[%d]", i)
			if !resolves(s, p, ports) {
				t.Errorf("Service %s port %d (targetPort %s/%s) is not a container port of %s, which declares %v",
					s.Name, i, target(s, p), protocol(s, p+".protocol"), w.Name, ports)
			}
		}
	}
}

// selects reports whether every selector pair is among labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// port is a container port as the endpoint controller matches it.
type port struct {
	Name     string
	Number   float64
	Protocol string
}

func (p port) String() string { return fmt.Sprintf("%s:%v/%s", p.Name, p.Number, p.Protocol) }

// containerPorts lists the ports of the workload's containers (not its init containers: the
// endpoint controller resolves a named port against the containers only).
func containerPorts(w mocktest.Resource) []port {
	var out []port
	for c := range w.Len("spec.template.spec.containers") {
		for i := range w.Len(fmt.Sprintf("spec.template.spec.containers[%d].ports", c)) {
			p := fmt.Sprintf("spec.template.spec.containers[%d].ports[%d]", c, i)
			out = append(out, port{Name: w.String(p + ".name"), Number: w.Number(p + ".containerPort"), Protocol: protocol(w, p+".protocol")})
		}
	}
	return out
}

// resolves reports whether the Service port at path resolves to one of ports.
func resolves(s mocktest.Resource, path string, ports []port) bool {
	proto := protocol(s, path+".protocol")
	v, ok := s.Get(path + ".targetPort")
	if !ok {
		// Kubernetes defaults targetPort to the Service port.
		v, ok = s.Get(path + ".port")
		if !ok {
			return false
		}
	}
	return slices.ContainsFunc(ports, func(p port) bool {
		if p.Protocol != proto {
			return false
		}
		switch {
		case v.IsString():
			return p.Name == v.StringValue()
		case v.IsNumber():
			return p.Number == v.NumberValue()
		}
		return false
	})
}

func target(s mocktest.Resource, path string) string {
	v, ok := s.Get(path + ".targetPort")
	if !ok {
		v, _ = s.Get(path + ".port")
	}
	return fmt.Sprint(v.V)
}

// protocol is the protocol at path, TCP when unset, as Kubernetes defaults it.
func protocol(r mocktest.Resource, path string) string {
	if p := r.String(path); p != "" {
		return p
	}
	return "TCP"
}

// stringMap reads a map of strings at path.
func stringMap(r mocktest.Resource, path string) map[string]string {
	v, ok := r.Get(path)
	if !ok || !v.IsObject() {
		return nil
	}
	out := map[string]string{}
	for k, s := range v.ObjectValue() {
		if s.IsString() {
			out[string(k)] = s.StringValue()
		}
	}
	return out
}
