package logging

import (
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
	"github.com/nexios-labs/nexios-k8s/internal/podcheck"
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
		{"no room for the agents suffix", func(a *LoggingArgs) { a.Namespace = strings.Repeat("n", 57) }, "FluentBit.Namespace"},
		{"agents in the stack's namespace", func(a *LoggingArgs) { a.FluentBit.Namespace = a.Namespace }, "other than Namespace"},
		{"bad storage size", func(a *LoggingArgs) { a.Elasticsearch.StorageSize = "5 gigs" }, "Elasticsearch.StorageSize"},
		{"bad ephemeral storage", func(a *LoggingArgs) {
			a.Kibana.Resources = kube.Resources{
				Requests:         kube.ResourceList{CPU: "1", Memory: "1Gi"},
				Limits:           kube.ResourceList{CPU: "1", Memory: "1Gi"},
				EphemeralStorage: kube.EphemeralStorage{Request: "2Gi", Limit: "1Gi"},
			}
		}, "Kibana.resources: ephemeral storage request 2Gi is above its limit"},
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

// Only Fluent Bit, which mounts the node's files, runs where Pod Security is `privileged`: the stack's
// own namespace enforces `restricted`, and every pod in it satisfies that standard.
func TestOnlyFluentBitsNamespaceIsPrivileged(t *testing.T) {
	for _, tt := range []struct {
		name string
		args LoggingArgs
	}{{"dev", devArgs()}, {"prod", prodArgs()}} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			for _, ns := range []struct{ resource, name, level string }{
				{"logs-namespace", "logging", kube.PodSecurityRestricted},
				{"logs-agents-namespace", "logging-agents", kube.PodSecurityPrivileged},
			} {
				r := m.Find(t, tNamespace, ns.resource)
				if got := r.String("metadata.name"); got != ns.name {
					t.Errorf("namespace %s is named %q, want %q", ns.resource, got, ns.name)
				}
				for _, mode := range []string{"enforce", "audit", "warn"} {
					if got := r.String(`metadata.labels["pod-security.kubernetes.io/` + mode + `"]`); got != ns.level {
						t.Errorf("namespace %s: %s = %q, want %q", ns.name, mode, got, ns.level)
					}
				}
			}
			if n := len(m.OfType(tNamespace)); n != 2 {
				t.Errorf("%d namespaces, want the stack's and Fluent Bit's", n)
			}
			// Every workload but Fluent Bit is in the restricted namespace and passes its checks.
			workloads := podcheck.Workloads(m)
			for _, w := range workloads {
				ns := w.String("metadata.namespace")
				if w.Type == tDaemonSet {
					if ns != "logging-agents" {
						t.Errorf("Fluent Bit runs in %q, want logging-agents", ns)
					}
					continue
				}
				if ns != "logging" {
					t.Errorf("%s %s runs in %q, want logging", w.Type, w.Name, ns)
				}
				podcheck.Restricted(t, w, podcheck.TemplateSpec)
			}
			if len(workloads) != 4 {
				t.Errorf("%d workloads, want Elasticsearch, Kibana, the setup Job and Fluent Bit", len(workloads))
			}
		})
	}
}

// Every container, init containers and the Job's included, requests and limits ephemeral storage,
// and every disk-backed emptyDir is bounded within those limits.
func TestEveryContainerBoundsItsEphemeralStorage(t *testing.T) {
	ephemeral := devArgs()
	ephemeral.Elasticsearch.Ephemeral = true
	for _, tt := range []struct {
		name string
		args LoggingArgs
	}{{"dev", devArgs()}, {"prod", prodArgs()}, {"dev with ephemeral data", ephemeral}} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			for _, w := range podcheck.Workloads(m) {
				podcheck.EphemeralStorage(t, w, podcheck.TemplateSpec)
			}
		})
	}
}

func TestOutputs(t *testing.T) {
	_, l := deploy(t, prodArgs())
	for name, tt := range map[string]struct {
		out  pulumi.StringOutput
		want string
	}{
		"namespace":         {l.Namespace, "logging"},
		"agentsNamespace":   {l.AgentsNamespace, "logging-agents"},
		"elasticsearchUrl":  {l.ElasticsearchURL, "https://logs-es.logging.svc.cluster.local:9200"},
		"kibanaUrl":         {l.KibanaURL, "http://logs-kibana.logging.svc.cluster.local:5601"},
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

// The ephemeral storage each container requests and limits, and its pod's emptyDir sizeLimits: the
// figures the README gives.
func TestWorkloadEphemeralStorage(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	tests := []struct {
		typ, name, container string
		request, limit       string
		emptyDirs            map[string]string
	}{
		{tDaemonSet, "logs-fluent-bit", "containers[0]", "64Mi", "128Mi", map[string]string{}},
		{tJob, "logs-setup", "containers[0]", "64Mi", "128Mi", map[string]string{"tmp": "1Mi"}},
		{tStatefulSet, "logs-es", "initContainers[0]", "64Mi", "128Mi", map[string]string{"config": "32Mi", "tmp": "256Mi", "logs": "2304Mi"}},
		{tStatefulSet, "logs-es", "containers[0]", "512Mi", "3Gi", map[string]string{"config": "32Mi", "tmp": "256Mi", "logs": "2304Mi"}},
		{tDeployment, "logs-kibana", "containers[0]", "256Mi", "1Gi", map[string]string{"data": "128Mi", "tmp": "256Mi"}},
	}
	for _, tt := range tests {
		w := m.Find(t, tt.typ, tt.name)
		c := "spec.template.spec." + tt.container + ".resources"
		if got := w.String(c + `.requests["ephemeral-storage"]`); got != tt.request {
			t.Errorf("%s %s: ephemeral-storage request %q, want %q", tt.name, tt.container, got, tt.request)
		}
		if got := w.String(c + `.limits["ephemeral-storage"]`); got != tt.limit {
			t.Errorf("%s %s: ephemeral-storage limit %q, want %q", tt.name, tt.container, got, tt.limit)
		}
		sizes := map[string]string{}
		for i := 0; i < w.Len("spec.template.spec.volumes"); i++ {
			v := "spec.template.spec.volumes[" + strconv.Itoa(i) + "]"
			if _, ok := w.Get(v + ".emptyDir"); ok {
				sizes[w.String(v+".name")] = w.String(v + ".emptyDir.sizeLimit")
			}
		}
		if !maps.Equal(sizes, tt.emptyDirs) {
			t.Errorf("%s: emptyDir sizeLimits %v, want %v", tt.name, sizes, tt.emptyDirs)
		}
	}
}
