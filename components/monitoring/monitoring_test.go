package monitoring

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/appmetrics"
	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

// Type tokens of the children.
const (
	tComponent      = "nexios:components:Monitoring"
	tNamespace      = "kubernetes:core/v1:Namespace"
	tConfigMap      = "kubernetes:core/v1:ConfigMap"
	tSecret         = "kubernetes:core/v1:Secret"
	tService        = "kubernetes:core/v1:Service"
	tSA             = "kubernetes:core/v1:ServiceAccount"
	tDeployment     = "kubernetes:apps/v1:Deployment"
	tStatefulSet    = "kubernetes:apps/v1:StatefulSet"
	tPDB            = "kubernetes:policy/v1:PodDisruptionBudget"
	tClusterRole    = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
	tClusterBinding = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
	tRoleBinding    = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
	tAPIService     = "kubernetes:apiregistration.k8s.io/v1:APIService"
	tIngress        = "kubernetes:networking.k8s.io/v1:Ingress"
	tNetPol         = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	tServiceMonitor = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
	tPrometheusRule = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
)

const podSpec = "spec.template.spec"
const container = podSpec + ".containers[0]"

func app() AppTarget {
	return AppTarget{
		Name:        "nexios",
		Namespace:   pulumi.String("nexios-dev"),
		PodLabels:   pulumi.StringMap{kube.LabelName: pulumi.String("nexios"), kube.LabelInstance: pulumi.String("nexios")},
		MetricsPort: pulumi.Int(8000),
		MetricsPath: pulumi.String("/metrics"),
		Deployment:  pulumi.String("nexios-deployment-abc123"),
	}
}

// devArgs are the dev profile: one of everything, emptyDir storage, short retention.
func devArgs() MonitoringArgs {
	return MonitoringArgs{
		Namespace:    "monitoring",
		Environment:  "dev",
		App:          app(),
		Prometheus:   Prometheus{Retention: "2d", RetentionSize: "1GB"},
		Alertmanager: Alertmanager{Replicas: 1},
		Alerts:       Thresholds{ErrorRatePercent: 5, LatencyP95Seconds: 0.5, RestartsPerHour: 3, PVCUsagePercent: 85, HPAAtMaxForMinutes: 15, ErrorRateForMinutes: 5, LatencyForMinutes: 10},
		Grafana:      Grafana{AdminPassword: pulumi.ToSecret(pulumi.String("grafana-pw")).(pulumi.StringOutput)},
		Adapter:      Adapter{Replicas: 1},
	}
}

// prodArgs are the prod profile: persistent storage, long retention, replicated Alertmanager and
// adapter, receivers, a scaling metric, an ingress and logs.
func prodArgs() MonitoringArgs {
	a := devArgs()
	a.Environment = "prod"
	a.App.Namespace = pulumi.String("nexios-prod")
	a.App.Autoscaled = true
	a.Prometheus = Prometheus{Retention: "15d", RetentionSize: "45GB", StorageSize: "50Gi",
		Resources: kube.Resources{Requests: kube.ResourceList{CPU: "500m", Memory: "2Gi"}, Limits: kube.ResourceList{CPU: "2", Memory: "4Gi"}}}
	a.Alertmanager = Alertmanager{
		Replicas:        2,
		WebhookURL:      pulumi.ToSecret(pulumi.String("https://hooks.example.com/alert?token=hook-s3cr3t")).(pulumi.StringOutput),
		SlackWebhookURL: pulumi.ToSecret(pulumi.String("https://hooks.slack.com/services/slack-s3cr3t")).(pulumi.StringOutput),
	}
	a.Adapter.Replicas = 2
	m, _ := appmetrics.Lookup("http_requests_per_second")
	a.ScalingMetrics = []ScalingTarget{{Metric: m, Target: "50"}}
	a.Grafana.IngressHost = "grafana.example.com"
	a.Grafana.ElasticsearchURL = pulumi.String("https://elasticsearch.logging.svc.cluster.local:9200")
	a.Grafana.ElasticsearchIndex = pulumi.String("logs-nexios-prod")
	a.Grafana.ElasticsearchUser = "grafana_reader"
	a.Grafana.ElasticsearchPassword = pulumi.ToSecret(pulumi.String(esReaderPassword)).(pulumi.StringOutput)
	a.Grafana.ElasticsearchCA = pulumi.String(esCA)
	return a
}

// The Elasticsearch reader's password and a stand-in for the logging stack's CA certificate.
const (
	esReaderPassword = "es-reader-s3cr3t"
	esCA             = "-----BEGIN CERTIFICATE-----\nMIIBlogging\n-----END CERTIFICATE-----\n"
)

func deploy(t *testing.T, args MonitoringArgs) (*mocktest.Mocks, *Monitoring) {
	t.Helper()
	return mocktest.Build(t, func(ctx *pulumi.Context) (*Monitoring, error) { return NewMonitoring(ctx, "mon", &args) })
}

func expectString(t *testing.T, r mocktest.Resource, path, want string) {
	t.Helper()
	if got := r.String(path); got != want {
		t.Errorf("%s %s: %s = %q, want %q", r.Type, r.Name, path, got, want)
	}
}

func expectNumber(t *testing.T, r mocktest.Resource, path string, want float64) {
	t.Helper()
	if got := r.Number(path); got != want {
		t.Errorf("%s %s: %s = %v, want %v", r.Type, r.Name, path, got, want)
	}
}

// args returns a container's arguments as one string, for substring checks.
func args(r mocktest.Resource) string {
	v, _ := r.Get(container + ".args")
	var out []string
	for _, a := range v.ArrayValue() {
		out = append(out, a.StringValue())
	}
	return strings.Join(out, " ")
}

func TestEnvironments(t *testing.T) {
	tests := []struct {
		name  string
		args  MonitoringArgs
		check func(t *testing.T, m *mocktest.Mocks)
	}{
		{"dev: emptyDir, short retention, single replicas, no PDB", devArgs(), func(t *testing.T, m *mocktest.Mocks) {
			p := m.Find(t, tStatefulSet, "mon-prometheus")
			if n := p.Len("spec.volumeClaimTemplates"); n != 0 {
				t.Errorf("dev Prometheus has %d volume claim templates, want none", n)
			}
			if _, ok := p.Get(podSpec + ".volumes[2].emptyDir"); !ok {
				t.Errorf("dev Prometheus data is not an emptyDir: %v", p.Inputs)
			}
			if a := args(p); !strings.Contains(a, "--storage.tsdb.retention.time=2d") || !strings.Contains(a, "--storage.tsdb.retention.size=1GB") {
				t.Errorf("prometheus args %q", a)
			}
			expectNumber(t, m.Find(t, tStatefulSet, "mon-alertmanager"), "spec.replicas", 1)
			// No scaling metric: nothing would read the custom metrics API, so it is not registered.
			if len(m.OfType(tAPIService)) != 0 || len(m.OfType(tDeployment)) != 2 {
				t.Errorf("dev without a scaling metric has an adapter: %d APIServices, %d Deployments, want 0 and 2 (Grafana, kube-state-metrics)", len(m.OfType(tAPIService)), len(m.OfType(tDeployment)))
			}
			prometheusPolicy := m.Find(t, tNetPol, "mon-prometheus-allow")
			if n := prometheusPolicy.Len("spec.ingress[0].from"); n != 1 {
				t.Errorf("Prometheus admits %d peers without an adapter, want Grafana only", n)
			}
			if pdbs := m.OfType(tPDB); len(pdbs) != 0 {
				t.Errorf("dev has %d PDBs, want none", len(pdbs))
			}
			if a := args(m.Find(t, tStatefulSet, "mon-alertmanager")); !strings.Contains(a, "--cluster.listen-address= ") && !strings.HasSuffix(a, "--cluster.listen-address=") {
				t.Errorf("a single Alertmanager should not cluster: %q", a)
			}
			if len(m.OfType(tIngress)) != 0 {
				t.Error("dev has an ingress without a host")
			}
		}},
		{"prod: a volume claim, long retention, two Alertmanagers and adapters with PDBs", prodArgs(), func(t *testing.T, m *mocktest.Mocks) {
			p := m.Find(t, tStatefulSet, "mon-prometheus")
			expectString(t, p, "spec.volumeClaimTemplates[0].spec.resources.requests.storage", "50Gi")
			expectString(t, p, "spec.volumeClaimTemplates[0].metadata.name", "data")
			expectString(t, p, container+".resources.requests.memory", "2Gi")
			if a := args(p); !strings.Contains(a, "--storage.tsdb.retention.time=15d") || !strings.Contains(a, "--storage.tsdb.retention.size=45GB") {
				t.Errorf("prometheus args %q", a)
			}
			am := m.Find(t, tStatefulSet, "mon-alertmanager")
			expectNumber(t, am, "spec.replicas", 2)
			a := args(am)
			for i := range 2 {
				peer := "--cluster.peer=mon-alertmanager-" + string(rune('0'+i)) + ".mon-alertmanager-peers-abc123.monitoring.svc:9094"
				if !strings.Contains(a, peer) {
					t.Errorf("alertmanager args lack %s: %q", peer, a)
				}
			}
			expectNumber(t, m.Find(t, tDeployment, "mon-adapter"), "spec.replicas", 2)
			for _, name := range []string{"mon-alertmanager-pdb", "mon-prometheus-adapter-pdb"} {
				expectNumber(t, m.Find(t, tPDB, name), "spec.maxUnavailable", 1)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			tt.check(t, m)
		})
	}
}

// Every child is parented to the component and named from its name; the namespace is restricted,
// every pod runs non-root with a read-only root filesystem.
func TestChildrenFollowTheHouseRules(t *testing.T) {
	m, mon := deploy(t, prodArgs())
	ns := m.Find(t, tNamespace, "mon-namespace")
	expectString(t, ns, "metadata.name", "monitoring")
	expectString(t, ns, `metadata.labels["pod-security.kubernetes.io/enforce"]`, "restricted")
	for _, r := range m.Resources() {
		if r.Type == tComponent {
			continue
		}
		if !strings.HasPrefix(r.Name, "mon-") {
			t.Errorf("%s %s is not named from the component", r.Type, r.Name)
		}
		if !strings.Contains(r.Parent, tComponent) {
			t.Errorf("%s %s has parent %q, want the component", r.Type, r.Name, r.Parent)
		}
	}
	for _, typ := range []string{tDeployment, tStatefulSet} {
		for _, w := range m.OfType(typ) {
			if nonRoot, _ := w.Bool(podSpec + ".securityContext.runAsNonRoot"); !nonRoot {
				t.Errorf("%s runs as root", w.Name)
			}
			if ro, _ := w.Bool(container + ".securityContext.readOnlyRootFilesystem"); !ro {
				t.Errorf("%s has a writable root filesystem", w.Name)
			}
			if w.String(container+".resources.requests.cpu") == "" || w.String(container+".resources.limits.memory") == "" {
				t.Errorf("%s lacks requests or limits", w.Name)
			}
			if w.String(container+".livenessProbe.httpGet.path") == "" || w.String(container+".readinessProbe.httpGet.path") == "" {
				t.Errorf("%s lacks probes", w.Name)
			}
			if img := w.String(container + ".image"); !strings.Contains(img, ":") || strings.HasSuffix(img, ":latest") {
				t.Errorf("%s image %q is not pinned", w.Name, img)
			}
		}
	}
	url, _ := mocktest.Await(t, mon.PrometheusURL)
	if url != "http://mon-prometheus.monitoring.svc.cluster.local:9090" {
		t.Errorf("PrometheusURL = %v", url)
	}
	url, _ = mocktest.Await(t, mon.GrafanaURL)
	if url != "http://mon-grafana.monitoring.svc.cluster.local:80" {
		t.Errorf("GrafanaURL = %v", url)
	}
	url, _ = mocktest.Await(t, mon.GrafanaPublicURL)
	if url != "http://grafana.example.com" {
		t.Errorf("GrafanaPublicURL = %v", url)
	}
}

func TestNilArgs(t *testing.T) {
	mocktest.ExpectRejected(t, func(ctx *pulumi.Context) (*Monitoring, error) { return NewMonitoring(ctx, "mon", nil) }, "args are required")
}

// Prometheus' StatefulSet is governed by a headless Service, which gives its pod a stable DNS name;
// clients keep the ClusterIP Service.
func TestPrometheusGoverningServiceIsHeadless(t *testing.T) {
	m, mon := deploy(t, devArgs())
	expectString(t, m.Find(t, tStatefulSet, "mon-prometheus"), "spec.serviceName", "mon-prometheus-headless-abc123")
	governing := m.Find(t, tService, "mon-prometheus-headless")
	expectString(t, governing, "spec.clusterIP", "None")
	expectString(t, governing, `spec.selector["app.kubernetes.io/name"]`, namePrometheus)
	expectNumber(t, governing, "spec.ports[0].port", prometheusPort)
	expectString(t, governing, "metadata.namespace", "monitoring")
	if ip := m.Find(t, tService, "mon-prometheus").String("spec.clusterIP"); ip == "None" {
		t.Error("the clients' Prometheus Service is headless too")
	}
	url, _ := mocktest.Await(t, mon.PrometheusURL)
	if url != "http://mon-prometheus.monitoring.svc.cluster.local:9090" {
		t.Errorf("PrometheusURL = %v, want the ClusterIP Service", url)
	}
	// Every StatefulSet of the stack names a headless Service.
	for _, sts := range m.OfType(tStatefulSet) {
		name := sts.String("spec.serviceName")
		found := false
		for _, svc := range m.OfType(tService) {
			if svc.Name+"-abc123" == name {
				found = true
				expectString(t, svc, "spec.clusterIP", "None")
			}
		}
		if !found {
			t.Errorf("%s names %q, which is none of the stack's Services", sts.Name, name)
		}
	}
}

// Liveness and readiness ask different questions of every workload: readiness takes a pod out of
// rotation when a dependency fails, liveness restarts only a process that stopped answering.
func TestProbesDiffer(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	for _, typ := range []string{tDeployment, tStatefulSet} {
		for _, w := range m.OfType(typ) {
			live, ready := w.String(container+".livenessProbe.httpGet.path"), w.String(container+".readinessProbe.httpGet.path")
			if live == ready {
				t.Errorf("%s: liveness and readiness both ask %q", w.Name, live)
			}
		}
	}
	g := m.Find(t, tDeployment, "mon-grafana")
	// /healthz answers while the web server runs; /api/health also checks Grafana's database.
	expectString(t, g, container+".livenessProbe.httpGet.path", "/healthz")
	expectString(t, g, container+".readinessProbe.httpGet.path", "/api/health")
	if live, ready := g.Number(container+".livenessProbe.failureThreshold"), g.Number(container+".readinessProbe.failureThreshold"); live <= ready {
		t.Errorf("Grafana: liveness gives up after %v failures, readiness after %v: a restart should come later", live, ready)
	}
}
