package kube

import (
	"strings"
	"testing"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

// serviceFixture is a workload's pod template and a Service in front of it as the components build
// them: the same namespace input, the selector a subset of the pod labels, a named target port.
type serviceFixture struct {
	namespace pulumi.StringOutput
	template  *corev1.PodTemplateSpecArgs
	service   *corev1.ServiceArgs
}

func newServiceFixture(namespace pulumi.StringOutput) serviceFixture {
	labels := Labels("web", "demo", "web")
	template := &corev1.PodTemplateSpecArgs{
		Metadata: &metav1.ObjectMetaArgs{Labels: StringMap(labels)},
		Spec: &corev1.PodSpecArgs{Containers: corev1.ContainerArray{
			corev1.ContainerArgs{Name: pulumi.String("app"), Image: pulumi.String("app:1"), Ports: corev1.ContainerPortArray{
				corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(8000), Protocol: pulumi.String("TCP")},
				corev1.ContainerPortArgs{Name: pulumi.String("gossip"), ContainerPort: pulumi.Int(9094), Protocol: pulumi.String("UDP")},
			}},
		}},
	}
	service := &corev1.ServiceArgs{
		Metadata: &metav1.ObjectMetaArgs{Namespace: namespace, Labels: StringMap(labels)},
		Spec: &corev1.ServiceSpecArgs{
			Selector: StringMap(SelectorLabels("web", "demo")),
			Ports: corev1.ServicePortArray{corev1.ServicePortArgs{
				Name: pulumi.String("http"), Port: pulumi.Int(80), TargetPort: pulumi.String("http"), Protocol: pulumi.String("TCP"),
			}},
		},
	}
	return serviceFixture{namespace: namespace, template: template, service: service}
}

func (f serviceFixture) backend() Backend {
	return Backend{Namespace: f.namespace, Template: f.template}
}

func (f serviceFixture) spec() *corev1.ServiceSpecArgs {
	return f.service.Spec.(*corev1.ServiceSpecArgs)
}

func (f serviceFixture) port() *corev1.ServicePortArgs {
	p := f.spec().Ports.(corev1.ServicePortArray)[0].(corev1.ServicePortArgs)
	return &p
}

func (f serviceFixture) setPort(p *corev1.ServicePortArgs) {
	f.spec().Ports = corev1.ServicePortArray{*p}
}

// TestCheckServiceBackend breaks each half of the invariant in turn: every break must be an error that
// says what is wrong, and only the intact fixture passes.
func TestCheckServiceBackend(t *testing.T) {
	namespace := pulumi.String("demo").ToStringOutput()
	tests := []struct {
		name    string
		breakIt func(f serviceFixture)
		want    string
	}{
		{"intact", func(serviceFixture) {}, ""},
		{"selector key typo", func(f serviceFixture) {
			f.spec().Selector = pulumi.StringMap{LabelName: pulumi.String("web"), "app.kubernetes.io/instanse": pulumi.String("demo")}
		}, "the backend's pods have no label app.kubernetes.io/instanse"},
		{"selector value typo", func(f serviceFixture) {
			f.spec().Selector = pulumi.StringMap{LabelName: pulumi.String("wbe")}
		}, "selector app.kubernetes.io/name=wbe: the backend's pods have app.kubernetes.io/name=web"},
		{"empty selector", func(f serviceFixture) { f.spec().Selector = pulumi.StringMap{} }, "selector is empty"},
		{"selector not plain", func(f serviceFixture) {
			f.spec().Selector = pulumi.StringMap{LabelName: pulumi.String("web").ToStringOutput()}
		}, "want a plain pulumi.String"},
		{"target port name that does not exist", func(f serviceFixture) {
			p := f.port()
			p.TargetPort = pulumi.String("htpp")
			f.setPort(p)
		}, "targetPort htpp/TCP is not a port of the backend's containers (they declare: http (8000/TCP), gossip (9094/UDP))"},
		{"target port of another protocol", func(f serviceFixture) {
			p := f.port()
			p.TargetPort, p.Protocol = pulumi.String("gossip"), nil
			f.setPort(p)
		}, "targetPort gossip/TCP is not a port"},
		{"numeric target port not declared", func(f serviceFixture) {
			p := f.port()
			p.TargetPort = pulumi.Int(8080)
			f.setPort(p)
		}, "targetPort 8080/TCP is not a port"},
		{"no target port: the service port is not declared", func(f serviceFixture) {
			p := f.port()
			p.TargetPort = nil
			f.setPort(p)
		}, "targetPort 80/TCP is not a port"},
		{"another namespace", func(f serviceFixture) {
			f.service.Metadata.(*metav1.ObjectMetaArgs).Namespace = pulumi.String("demo")
		}, "namespace is not the backend workload's"},
		{"no ports", func(f serviceFixture) { f.spec().Ports = corev1.ServicePortArray{} }, "want a non-empty corev1.ServicePortArray"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(namespace)
			tt.breakIt(f)
			err := CheckServiceBackend(f.service, f.backend())
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("intact service rejected: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("broken service accepted; want an error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}

	t.Run("numeric and defaulted target ports that are declared pass", func(t *testing.T) {
		f := newServiceFixture(namespace)
		p := f.port()
		p.TargetPort = pulumi.Int(8000)
		f.setPort(p)
		if err := CheckServiceBackend(f.service, f.backend()); err != nil {
			t.Errorf("targetPort 8000: %v", err)
		}
		p.TargetPort, p.Port = nil, pulumi.Int(8000)
		f.setPort(p)
		if err := CheckServiceBackend(f.service, f.backend()); err != nil {
			t.Errorf("no targetPort, port 8000: %v", err)
		}
	})
}

// TestNewServiceSkipsTheAwaitOnlyWhereProved: the annotation goes on every Service type but
// LoadBalancer, keeps the caller's annotations, and a broken Service registers nothing.
func TestNewServiceSkipsTheAwaitOnlyWhereProved(t *testing.T) {
	for _, tt := range []struct {
		typ  pulumi.StringPtrInput
		want string
	}{
		{nil, "true"},
		{pulumi.String("ClusterIP"), "true"},
		{pulumi.String("NodePort"), "true"},
		{pulumi.String("LoadBalancer"), ""},
	} {
		name := "unset"
		if tt.typ != nil {
			name = string(tt.typ.(pulumi.String))
		}
		t.Run(name, func(t *testing.T) {
			m, _ := mocktest.Build(t, func(ctx *pulumi.Context) (*corev1.Service, error) {
				f := newServiceFixture(pulumi.String("demo").ToStringOutput())
				f.spec().Type = tt.typ
				f.service.Metadata.(*metav1.ObjectMetaArgs).Annotations = pulumi.StringMap{"owner": pulumi.String("team")}
				return NewService(ctx, "web", f.service, f.backend())
			})
			s := m.Find(t, "kubernetes:core/v1:Service", "web")
			if got := s.String(`metadata.annotations["` + AnnotationSkipAwait + `"]`); got != tt.want {
				t.Errorf("%s = %q, want %q", AnnotationSkipAwait, got, tt.want)
			}
			if got := s.String(`metadata.annotations["owner"]`); got != "team" {
				t.Errorf("the caller's annotation was lost: owner = %q", got)
			}
		})
	}

	t.Run("a broken selector registers nothing", func(t *testing.T) {
		mocktest.ExpectRejected(t, func(ctx *pulumi.Context) (*corev1.Service, error) {
			f := newServiceFixture(pulumi.String("demo").ToStringOutput())
			f.spec().Selector = pulumi.StringMap{LabelName: pulumi.String("other")}
			return NewService(ctx, "web", f.service, f.backend())
		}, "service web: selector app.kubernetes.io/name=other")
	})
}

// TestGoverningService: only a headless Service may defer its proof, and Check still catches a break.
func TestGoverningService(t *testing.T) {
	mocktest.ExpectRejected(t, func(ctx *pulumi.Context) (*GoverningService, error) {
		f := newServiceFixture(pulumi.String("demo").ToStringOutput())
		return NewGoverningService(ctx, "peers", f.service)
	}, "must be headless")

	var checkErr error
	m, _ := mocktest.Build(t, func(ctx *pulumi.Context) (*GoverningService, error) {
		f := newServiceFixture(pulumi.String("demo").ToStringOutput())
		f.spec().ClusterIP = pulumi.String("None")
		g, err := NewGoverningService(ctx, "peers", f.service)
		if err != nil {
			return nil, err
		}
		if err := g.Check(f.backend()); err != nil {
			t.Errorf("intact governing service rejected: %v", err)
		}
		f.template.Metadata.(*metav1.ObjectMetaArgs).Labels = pulumi.StringMap{LabelName: pulumi.String("web")}
		checkErr = g.Check(f.backend())
		return g, nil
	})
	if checkErr == nil || !strings.Contains(checkErr.Error(), "service peers: selector app.kubernetes.io/instance=demo: the backend's pods have no label") {
		t.Errorf("pods without the selector's instance label: Check = %v", checkErr)
	}
	if got := m.Find(t, "kubernetes:core/v1:Service", "peers").String(`metadata.annotations["` + AnnotationSkipAwait + `"]`); got != "true" {
		t.Errorf("%s = %q on the governing service, want true", AnnotationSkipAwait, got)
	}
}
