package logging

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

const (
	tNamespace   = "kubernetes:core/v1:Namespace"
	tSecret      = "kubernetes:core/v1:Secret"
	tConfigMap   = "kubernetes:core/v1:ConfigMap"
	tService     = "kubernetes:core/v1:Service"
	tSA          = "kubernetes:core/v1:ServiceAccount"
	tStatefulSet = "kubernetes:apps/v1:StatefulSet"
	tDaemonSet   = "kubernetes:apps/v1:DaemonSet"
	tDeployment  = "kubernetes:apps/v1:Deployment"
	tJob         = "kubernetes:batch/v1:Job"
	tPDB         = "kubernetes:policy/v1:PodDisruptionBudget"
	tIngress     = "kubernetes:networking.k8s.io/v1:Ingress"
	tNetPol      = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	tClusterRole = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
	tCRB         = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
	tComponent   = "nexios:components:Logging"

	adminPassword = "admin-pw-1"
	// adminHash stands for the bcrypt hash of adminPassword.
	adminHash      = "$2a$10$abcdefghijklmnopqrstuuAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	kibanaPassword = "kibana-pw-1"
	writerPassword = "writer-pw-1"
	readerPassword = "reader-pw-1"
	caSeed         = "seed-0123456789"
)

// devArgs and prodArgs mirror the environments' profiles.
func devArgs() LoggingArgs {
	return LoggingArgs{
		Namespace:     "logging",
		Environment:   "dev",
		RetentionDays: 3,
		Elasticsearch: Elasticsearch{
			Replicas:    1,
			StorageSize: "5Gi",
			Resources: kube.Resources{
				Requests: kube.ResourceList{CPU: "250m", Memory: "1Gi"},
				Limits:   kube.ResourceList{CPU: "1", Memory: "1Gi"},
			},
		},
		Kibana:                  Kibana{Replicas: 1},
		AdminPassword:           pulumi.ToSecret(pulumi.String(adminPassword)).(pulumi.StringOutput),
		AdminPasswordHash:       pulumi.ToSecret(pulumi.String(adminHash)).(pulumi.StringOutput),
		KibanaSystemPassword:    pulumi.ToSecret(pulumi.String(kibanaPassword)).(pulumi.StringOutput),
		FluentBitWriterPassword: pulumi.ToSecret(pulumi.String(writerPassword)).(pulumi.StringOutput),
		CASeed:                  pulumi.ToSecret(pulumi.String(caSeed)).(pulumi.StringOutput),
	}
}

func prodArgs() LoggingArgs {
	a := devArgs()
	a.Environment = "prod"
	a.RetentionDays = 30
	a.Elasticsearch = Elasticsearch{
		Replicas:          3,
		StorageSize:       "100Gi",
		StorageClass:      "fast-ssd",
		SpreadAcrossZones: true,
		Resources: kube.Resources{
			Requests: kube.ResourceList{CPU: "1", Memory: "4Gi"},
			Limits:   kube.ResourceList{CPU: "2", Memory: "4Gi"},
		},
	}
	a.Kibana = Kibana{Replicas: 2, Ingress: &Ingress{Host: "logs.example.com", TLSSecretName: "logs-tls"}}
	a.IngressControllerNamespace = "ingress-nginx"
	a.MonitoringNamespace = "monitoring"
	a.Grafana = &GrafanaReader{
		Namespace: "monitoring",
		PodLabels: map[string]string{kube.LabelName: "grafana", kube.LabelInstance: "mon"},
		Password:  pulumi.ToSecret(pulumi.String(readerPassword)).(pulumi.StringOutput),
	}
	return a
}

func deploy(t *testing.T, args LoggingArgs) (*mocktest.Mocks, *Logging) {
	t.Helper()
	return mocktest.Build(t, func(ctx *pulumi.Context) (*Logging, error) { return NewLogging(ctx, "logs", &args) })
}

func TestNilArgs(t *testing.T) {
	m := &mocktest.Mocks{}
	err := m.Run("test", mocktest.Config{}, func(ctx *pulumi.Context) error {
		_, err := NewLogging(ctx, "logs", nil)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "args are required") {
		t.Fatalf("nil args: got %v", err)
	}
}

func TestInvalidArgsRegisterNothing(t *testing.T) {
	tests := []struct {
		name   string
		change func(a *LoggingArgs)
		want   string
	}{
		{"no namespace", func(a *LoggingArgs) { a.Namespace = "" }, "Namespace is required"},
		{"no retention", func(a *LoggingArgs) { a.RetentionDays = 0 }, "RetentionDays"},
		{"two nodes", func(a *LoggingArgs) { a.Elasticsearch.Replicas = 2 }, "Elasticsearch.Replicas"},
		{"no storage size", func(a *LoggingArgs) { a.Elasticsearch.StorageSize = "" }, "StorageSize"},
		{"heap too small", func(a *LoggingArgs) { a.Elasticsearch.Resources.Limits.Memory = "256Mi" }, "Limits.Memory"},
		{"missing resources", func(a *LoggingArgs) { a.Elasticsearch.Resources.Requests.CPU = "" }, "Elasticsearch.resources"},
		{"bad buffer limit", func(a *LoggingArgs) { a.FluentBit.BufferLimit = "2 gigs" }, "BufferLimit"},
		{"ingress without host", func(a *LoggingArgs) { a.Kibana.Ingress = &Ingress{} }, "Kibana.Ingress.Host"},
		{"no secrets", func(a *LoggingArgs) { a.CASeed = nil }, "CASeed"},
		{"no writer password", func(a *LoggingArgs) { a.FluentBitWriterPassword = nil }, "FluentBitWriterPassword"},
		{"grafana without a password", func(a *LoggingArgs) {
			a.Grafana = &GrafanaReader{Namespace: "monitoring", PodLabels: map[string]string{"a": "b"}}
		}, "Grafana needs"},
		{"grafana without pods", func(a *LoggingArgs) {
			a.Grafana = &GrafanaReader{Namespace: "monitoring", Password: pulumi.String("x")}
		}, "Grafana needs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := devArgs()
			tt.change(&args)
			mocktest.ExpectRejected(t, func(ctx *pulumi.Context) (*Logging, error) { return NewLogging(ctx, "logs", &args) }, tt.want)
		})
	}
}

func TestEveryChildIsParentedAndNamedFromTheComponent(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	for _, r := range m.Resources() {
		if r.Type == tComponent {
			continue
		}
		if !strings.HasSuffix(r.Parent, "::logs") {
			t.Errorf("%s %s has parent %q, want the component", r.Type, r.Name, r.Parent)
		}
		if !strings.HasPrefix(r.Name, "logs-") {
			t.Errorf("%s %s is not named from the component", r.Type, r.Name)
		}
	}
}

func TestNamespaceIsPrivilegedForFluentBitOnly(t *testing.T) {
	m, _ := deploy(t, devArgs())
	ns := m.Find(t, tNamespace, "logs-namespace")
	if got := ns.String("metadata.name"); got != "logging" {
		t.Errorf("namespace name = %q", got)
	}
	if got := ns.String(`metadata.labels["pod-security.kubernetes.io/enforce"]`); got != kube.PodSecurityPrivileged {
		t.Errorf("enforce = %q, want privileged: Fluent Bit mounts hostPath volumes", got)
	}
	// Every pod but Fluent Bit's still runs as a non-root user with a read-only root.
	for _, c := range []struct{ typ, name, spec string }{
		{tStatefulSet, "logs-es", "spec.template.spec"},
		{tDeployment, "logs-kibana", "spec.template.spec"},
		{tJob, "logs-setup", "spec.template.spec"},
	} {
		r := m.Find(t, c.typ, c.name)
		if nonRoot, _ := r.Bool(c.spec + ".securityContext.runAsNonRoot"); !nonRoot {
			t.Errorf("%s runs as root", c.name)
		}
		if ro, _ := r.Bool(c.spec + ".containers[0].securityContext.readOnlyRootFilesystem"); !ro {
			t.Errorf("%s has a writable root filesystem", c.name)
		}
	}
}

func TestOutputs(t *testing.T) {
	_, l := deploy(t, prodArgs())
	for name, tt := range map[string]struct {
		out  pulumi.StringOutput
		want string
	}{
		"namespace":         {l.Namespace, "logging"},
		"elasticsearchUrl":  {l.ElasticsearchURL, "https://logs-es-abc123.logging.svc.cluster.local:9200"},
		"kibanaUrl":         {l.KibanaURL, "http://logs-kibana-abc123.logging.svc.cluster.local:5601"},
		"publicKibanaUrl":   {l.PublicKibanaURL, "https://logs.example.com"},
		"credentialsSecret": {l.CredentialsSecret, "logs-credentials-abc123"},
		"dataStream":        {l.DataStream, "nexios-logs"},
	} {
		got, secret := mocktest.Await(t, tt.out)
		if got != tt.want || secret {
			t.Errorf("%s = %v (secret %v), want %q in the clear", name, got, secret, tt.want)
		}
	}
}
