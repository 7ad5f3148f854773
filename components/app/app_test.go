package app

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
	"github.com/nexios-labs/nexios-k8s/internal/podcheck"
)

// Type tokens of the children.
const (
	tNamespace  = "kubernetes:core/v1:Namespace"
	tQuota      = "kubernetes:core/v1:ResourceQuota"
	tLimitRange = "kubernetes:core/v1:LimitRange"
	tSA         = "kubernetes:core/v1:ServiceAccount"
	tRole       = "kubernetes:rbac.authorization.k8s.io/v1:Role"
	tBinding    = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
	tConfigMap  = "kubernetes:core/v1:ConfigMap"
	tSecret     = "kubernetes:core/v1:Secret"
	tPVC        = "kubernetes:core/v1:PersistentVolumeClaim"
	tDeployment = "kubernetes:apps/v1:Deployment"
	tService    = "kubernetes:core/v1:Service"
	tIngress    = "kubernetes:networking.k8s.io/v1:Ingress"
	tHPA        = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
	tPDB        = "kubernetes:policy/v1:PodDisruptionBudget"
	tNetPol     = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
)

const podSpec = "spec.template.spec"
const container = podSpec + ".containers[0]"

// devArgs are the smallest complete arguments: one replica, nothing optional.
func devArgs() AppArgs {
	return AppArgs{
		Namespace:   "nexios-dev",
		Environment: "dev",
		Image:       pulumi.String("ghcr.io/acme/nexios:1.0.0"),
		Replicas:    1,
		DatabaseURL: pulumi.ToSecret(pulumi.String("sqlite:////tmp/db")).(pulumi.StringOutput),
		SecretKey:   pulumi.ToSecret(pulumi.String("s3cr3t")).(pulumi.StringOutput),
		Env:         pulumi.StringMap{"LOG_LEVEL": pulumi.String("debug")},
		Resources:   kube.Resources{Requests: kube.ResourceList{CPU: "100m", Memory: "128Mi"}, Limits: kube.ResourceList{CPU: "500m", Memory: "256Mi"}},
		NetworkPolicy: &NetworkPolicy{
			IngressControllerNamespace: "ingress-nginx",
			MonitoringNamespace:        "monitoring",
		},
		LimitRange: true,
	}
}

// prodArgs turn on everything a production deployment uses.
func prodArgs() AppArgs {
	a := devArgs()
	a.Namespace, a.Environment = "nexios-prod", "prod"
	a.Replicas = 3
	a.Resources = kube.Resources{Requests: kube.ResourceList{CPU: "250m", Memory: "256Mi"}, Limits: kube.ResourceList{CPU: "1", Memory: "512Mi"}}
	a.Autoscaling = &Autoscaling{
		MinReplicas: 3, MaxReplicas: 10, CPUUtilization: 70, MemoryUtilization: 80,
		CustomMetrics: map[string]string{"http_requests_per_second": "50"},
		Behavior:      ScalingBehavior{ScaleDownStabilizationSeconds: 300, ScaleUpPercent: 100, ScaleDownPercent: 50, PeriodSeconds: 60},
	}
	a.DisruptionBudget = &DisruptionBudget{MaxUnavailable: "1"}
	a.HighAvailability = HighAvailability{SpreadAcrossZones: true, SpreadAcrossNodes: true, AntiAffinity: "preferred"}
	a.Ingress = &Ingress{ClassName: "nginx", Host: "nexios.example.com", Path: "/", TLS: &IngressTLS{ClusterIssuer: "letsencrypt"}}
	a.NetworkPolicy.RestrictEgress = true
	a.NetworkPolicy.EgressPorts = []int{5432}
	a.Quota = &Quota{RequestsCPU: "4", RequestsMemory: "8Gi", LimitsCPU: "16", LimitsMemory: "16Gi", Pods: 30}
	a.SecretEnv = pulumi.StringMap{"API_TOKEN": pulumi.ToSecret(pulumi.String("tok")).(pulumi.StringOutput)}
	a.ConfigFiles = pulumi.StringMap{"logging.yaml": pulumi.String("level: info")}
	a.Volumes = []Volume{{Name: "uploads", MountPath: "/data", Size: "10Gi", AccessMode: "ReadWriteMany", StorageClass: "nfs"}}
	a.RBACRules = []PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "watch"}}}
	a.Metrics = MetricsEndpoint{Port: 9000}
	return a
}

func deploy(t *testing.T, args AppArgs) (*mocktest.Mocks, *App) {
	t.Helper()
	return mocktest.Build(t, func(ctx *pulumi.Context) (*App, error) { return NewApp(ctx, "web", &args) })
}

func TestNewAppChildren(t *testing.T) {
	tests := []struct {
		name  string
		args  AppArgs
		check func(t *testing.T, m *mocktest.Mocks)
	}{
		{"dev: fixed replicas and no optional parts", devArgs(), func(t *testing.T, m *mocktest.Mocks) {
			d := m.Find(t, tDeployment, "web-deployment")
			expectNumber(t, d, "spec.replicas", 1)
			for _, typ := range []string{tHPA, tPDB, tIngress, tQuota, tRole, tBinding, tPVC} {
				if got := m.OfType(typ); len(got) != 0 {
					t.Errorf("dev registered %d %s, want none", len(got), typ)
				}
			}
			if n := d.Len(podSpec + ".topologySpreadConstraints"); n != 0 {
				t.Errorf("dev has %d spread constraints, want none", n)
			}
			if _, ok := d.Get(podSpec + ".affinity"); ok {
				t.Error("dev sets affinity, want none")
			}
		}},
		{"prod: HPA owns replicas", prodArgs(), func(t *testing.T, m *mocktest.Mocks) {
			d := m.Find(t, tDeployment, "web-deployment")
			if _, set := d.Get("spec.replicas"); set {
				t.Error("spec.replicas is set while an HPA manages the Deployment")
			}
			h := m.Find(t, tHPA, "web-hpa")
			expectNumber(t, h, "spec.minReplicas", 3)
			expectNumber(t, h, "spec.maxReplicas", 10)
			expectString(t, h, "spec.scaleTargetRef.kind", "Deployment")
			expectString(t, h, "spec.scaleTargetRef.name", "web-deployment-abc123")
			expectString(t, h, "spec.metrics[0].resource.name", "cpu")
			expectNumber(t, h, "spec.metrics[0].resource.target.averageUtilization", 70)
			expectString(t, h, "spec.metrics[1].resource.name", "memory")
			expectString(t, h, "spec.metrics[2].type", "Pods")
			expectString(t, h, "spec.metrics[2].pods.metric.name", "http_requests_per_second")
			expectString(t, h, "spec.metrics[2].pods.target.averageValue", "50")
			expectNumber(t, h, "spec.behavior.scaleDown.stabilizationWindowSeconds", 300)
			expectNumber(t, h, "spec.behavior.scaleDown.policies[0].value", 50)
			expectNumber(t, h, "spec.behavior.scaleUp.policies[0].value", 100)
		}},
		{"prod: disruption budget", prodArgs(), func(t *testing.T, m *mocktest.Mocks) {
			p := m.Find(t, tPDB, "web-pdb")
			expectNumber(t, p, "spec.maxUnavailable", 1)
			expectString(t, p, `spec.selector.matchLabels["app.kubernetes.io/instance"]`, "web")
			expectString(t, p, "spec.unhealthyPodEvictionPolicy", "AlwaysAllow")
		}},
		{"prod: spread over zones and nodes with preferred anti-affinity", prodArgs(), func(t *testing.T, m *mocktest.Mocks) {
			d := m.Find(t, tDeployment, "web-deployment")
			expectString(t, d, podSpec+".topologySpreadConstraints[0].topologyKey", kube.LabelZone)
			expectString(t, d, podSpec+".topologySpreadConstraints[1].topologyKey", kube.LabelHostname)
			expectString(t, d, podSpec+".topologySpreadConstraints[0].whenUnsatisfiable", "ScheduleAnyway")
			expectString(t, d, podSpec+".affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey", kube.LabelHostname)
		}},
		{"required anti-affinity refuses to co-schedule", func() AppArgs {
			a := prodArgs()
			a.HighAvailability.AntiAffinity = "required"
			return a
		}(), func(t *testing.T, m *mocktest.Mocks) {
			d := m.Find(t, tDeployment, "web-deployment")
			expectString(t, d, podSpec+".topologySpreadConstraints[0].whenUnsatisfiable", "DoNotSchedule")
			expectString(t, d, podSpec+".affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", kube.LabelHostname)
		}},
		{"rolling update never lowers capacity", devArgs(), func(t *testing.T, m *mocktest.Mocks) {
			d := m.Find(t, tDeployment, "web-deployment")
			expectNumber(t, d, "spec.strategy.rollingUpdate.maxUnavailable", 0)
			expectString(t, d, "spec.strategy.rollingUpdate.maxSurge", "25%")
			expectNumber(t, d, "spec.revisionHistoryLimit", 10)
			expectNumber(t, d, container+".lifecycle.preStop.sleep.seconds", -1) // off unless asked
		}},
		{"pre-stop sleep when asked", func() AppArgs {
			a := devArgs()
			a.Rollout.PreStopSleepSeconds = 5
			a.Rollout.MaxSurge = "1"
			return a
		}(), func(t *testing.T, m *mocktest.Mocks) {
			d := m.Find(t, tDeployment, "web-deployment")
			expectNumber(t, d, container+".lifecycle.preStop.sleep.seconds", 5)
			expectNumber(t, d, "spec.strategy.rollingUpdate.maxSurge", 1)
		}},
		{"probes on the http port with defaults", devArgs(), func(t *testing.T, m *mocktest.Mocks) {
			d := m.Find(t, tDeployment, "web-deployment")
			expectString(t, d, container+".livenessProbe.httpGet.path", "/health")
			expectString(t, d, container+".livenessProbe.httpGet.port", "http")
			expectString(t, d, container+".readinessProbe.httpGet.path", "/ready")
			expectString(t, d, container+".startupProbe.httpGet.path", "/health")
			expectNumber(t, d, container+".startupProbe.failureThreshold", 30)
			expectNumber(t, d, container+".ports[0].containerPort", 8000)
		}},
		{"requests and limits", devArgs(), func(t *testing.T, m *mocktest.Mocks) {
			d := m.Find(t, tDeployment, "web-deployment")
			expectString(t, d, container+".resources.requests.cpu", "100m")
			expectString(t, d, container+".resources.limits.memory", "256Mi")
		}},
		{"restricted security context", devArgs(), func(t *testing.T, m *mocktest.Mocks) {
			d := m.Find(t, tDeployment, "web-deployment")
			expectBool(t, d, podSpec+".securityContext.runAsNonRoot", true)
			expectString(t, d, podSpec+".securityContext.seccompProfile.type", "RuntimeDefault")
			expectBool(t, d, container+".securityContext.allowPrivilegeEscalation", false)
			expectBool(t, d, container+".securityContext.readOnlyRootFilesystem", true)
			expectString(t, d, container+".securityContext.capabilities.drop[0]", "ALL")
			expectString(t, d, podSpec+".volumes[0].name", "tmp")
			expectString(t, d, container+".volumeMounts[0].mountPath", "/tmp")
			expectBool(t, d, podSpec+".automountServiceAccountToken", false)
			sa := m.Find(t, tSA, "web-sa")
			expectBool(t, sa, "automountServiceAccountToken", false)
		}},
		{"namespace enforces restricted pod security", devArgs(), func(t *testing.T, m *mocktest.Mocks) {
			ns := m.Find(t, tNamespace, "web-namespace")
			expectString(t, ns, "metadata.name", "nexios-dev")
			expectString(t, ns, `metadata.labels["pod-security.kubernetes.io/enforce"]`, "restricted")
			expectString(t, ns, `metadata.labels["pod-security.kubernetes.io/warn"]`, "restricted")
			lr := m.Find(t, tLimitRange, "web-limits")
			expectString(t, lr, "spec.limits[0].defaultRequest.cpu", "100m")
		}},
		{"secrets reach the pod through secretKeyRef", prodArgs(), func(t *testing.T, m *mocktest.Mocks) {
			d := m.Find(t, tDeployment, "web-deployment")
			expectString(t, d, container+".env[0].name", "DATABASE_URL")
			expectString(t, d, container+".env[0].valueFrom.secretKeyRef.key", SecretKeyDatabaseURL)
			expectString(t, d, container+".env[0].valueFrom.secretKeyRef.name", "web-secret-abc123")
			expectString(t, d, container+".env[1].name", "SECRET_KEY")
			expectString(t, d, container+".env[2].name", "API_TOKEN")
			expectString(t, d, container+".env[2].valueFrom.secretKeyRef.key", "env-api-token")
			expectString(t, d, container+".envFrom[0].configMapRef.name", "web-env-abc123")
			s := m.Find(t, tSecret, "web-secret")
			for _, key := range []string{SecretKeyDatabaseURL, SecretKeyAppSecret, "env-api-token"} {
				if !s.IsSecret("stringData." + key) {
					t.Errorf("secret data %s is not marked secret", key)
				}
			}
			expectString(t, s, "stringData.database-url", "sqlite:////tmp/db")
			cm := m.Find(t, tConfigMap, "web-env")
			expectString(t, cm, "data.LOG_LEVEL", "debug")
		}},
		{"config files and volumes are mounted", prodArgs(), func(t *testing.T, m *mocktest.Mocks) {
			d := m.Find(t, tDeployment, "web-deployment")
			expectString(t, d, container+".volumeMounts[1].mountPath", "/etc/nexios")
			expectBool(t, d, container+".volumeMounts[1].readOnly", true)
			expectString(t, d, podSpec+".volumes[1].configMap.name", "web-files-abc123")
			expectString(t, d, container+".volumeMounts[2].mountPath", "/data")
			expectString(t, d, podSpec+".volumes[2].persistentVolumeClaim.claimName", "web-pvc-uploads-abc123")
			pvc := m.Find(t, tPVC, "web-pvc-uploads")
			expectString(t, pvc, "spec.accessModes[0]", "ReadWriteMany")
			expectString(t, pvc, "spec.resources.requests.storage", "10Gi")
			expectString(t, pvc, "spec.storageClassName", "nfs")
			files := m.Find(t, tConfigMap, "web-files")
			expectString(t, files, `data["logging.yaml"]`, "level: info")
		}},
		{"rbac only when asked, with a mounted token", prodArgs(), func(t *testing.T, m *mocktest.Mocks) {
			r := m.Find(t, tRole, "web-role")
			expectString(t, r, "rules[0].resources[0]", "configmaps")
			expectString(t, r, "rules[0].verbs[1]", "watch")
			b := m.Find(t, tBinding, "web-rolebinding")
			expectString(t, b, "subjects[0].name", "web-sa-abc123")
			expectString(t, b, "roleRef.name", "web-role-abc123")
			expectBool(t, m.Find(t, tSA, "web-sa"), "automountServiceAccountToken", true)
		}},
		{"service maps port 80 to the container port", devArgs(), func(t *testing.T, m *mocktest.Mocks) {
			s := m.Find(t, tService, "web-service")
			expectString(t, s, "spec.type", "ClusterIP")
			expectNumber(t, s, "spec.ports[0].port", 80)
			expectString(t, s, "spec.ports[0].targetPort", "http")
			expectString(t, s, `spec.selector["app.kubernetes.io/name"]`, "nexios")
		}},
		{"node port service", func() AppArgs {
			a := devArgs()
			a.Service = Service{Type: "NodePort", NodePort: 30080}
			return a
		}(), func(t *testing.T, m *mocktest.Mocks) {
			s := m.Find(t, tService, "web-service")
			expectString(t, s, "spec.type", "NodePort")
			expectNumber(t, s, "spec.ports[0].nodePort", 30080)
		}},
		{"separate metrics port is exposed and scraped", prodArgs(), func(t *testing.T, m *mocktest.Mocks) {
			d := m.Find(t, tDeployment, "web-deployment")
			expectNumber(t, d, container+".ports[1].containerPort", 9000)
			expectString(t, d, `spec.template.metadata.annotations["prometheus.io/port"]`, "9000")
			expectString(t, d, `spec.template.metadata.annotations["prometheus.io/path"]`, "/metrics")
			expectNumber(t, m.Find(t, tService, "web-service"), "spec.ports[1].port", 9000)
		}},
		{"ingress with cert-manager TLS", prodArgs(), func(t *testing.T, m *mocktest.Mocks) {
			in := m.Find(t, tIngress, "web-ingress")
			expectString(t, in, "spec.ingressClassName", "nginx")
			expectString(t, in, "spec.rules[0].host", "nexios.example.com")
			expectString(t, in, "spec.rules[0].http.paths[0].backend.service.name", "web-service")
			expectString(t, in, "spec.tls[0].secretName", "nexios-example-com-tls")
			expectString(t, in, `metadata.annotations["cert-manager.io/cluster-issuer"]`, "letsencrypt")
		}},
		{"network policy: deny by default, allow ingress controller and monitoring", devArgs(), func(t *testing.T, m *mocktest.Mocks) {
			deny := m.Find(t, tNetPol, "web-default-deny")
			if n := deny.Len("spec.podSelector"); n != 0 {
				t.Errorf("default deny selects a subset of pods (%d selector fields)", n)
			}
			expectString(t, deny, "spec.policyTypes[0]", "Ingress")
			if deny.Len("spec.policyTypes") != 1 {
				t.Error("dev restricts egress; want ingress only")
			}
			allow := m.Find(t, tNetPol, "web-allow")
			expectString(t, allow, `spec.ingress[0].from[0].namespaceSelector.matchLabels["kubernetes.io/metadata.name"]`, "ingress-nginx")
			expectNumber(t, allow, "spec.ingress[0].ports[0].port", 8000)
			expectString(t, allow, `spec.ingress[1].from[0].namespaceSelector.matchLabels["kubernetes.io/metadata.name"]`, "monitoring")
		}},
		{"prod restricts egress to DNS and named ports", prodArgs(), func(t *testing.T, m *mocktest.Mocks) {
			allow := m.Find(t, tNetPol, "web-allow")
			expectString(t, allow, "spec.policyTypes[1]", "Egress")
			expectNumber(t, allow, "spec.egress[0].ports[0].port", 53)
			expectNumber(t, allow, "spec.egress[1].ports[0].port", 5432)
			expectNumber(t, allow, "spec.ingress[1].ports[0].port", 9000)
		}},
		{"quota", prodArgs(), func(t *testing.T, m *mocktest.Mocks) {
			q := m.Find(t, tQuota, "web-quota")
			expectString(t, q, `spec.hard["requests.cpu"]`, "4")
			expectString(t, q, "spec.hard.pods", "30")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			tt.check(t, m)
			for _, r := range m.Resources() {
				if r.Type != "nexios:components:App" && r.Parent == "" {
					t.Errorf("%s %s has no parent", r.Type, r.Name)
				}
				if !strings.HasPrefix(r.Name, "web") {
					t.Errorf("%s %s is not named after the component", r.Type, r.Name)
				}
			}
		})
	}
}

func TestChecksumRollsPodsOnConfigChange(t *testing.T) {
	checksum := func(mutate func(*AppArgs)) string {
		a := devArgs()
		mutate(&a)
		m, _ := deploy(t, a)
		return m.Find(t, tDeployment, "web-deployment").String(`spec.template.metadata.annotations["checksum/config"]`)
	}
	base := checksum(func(*AppArgs) {})
	if len(base) != 64 {
		t.Fatalf("checksum %q is not a sha256", base)
	}
	if again := checksum(func(*AppArgs) {}); again != base {
		t.Errorf("checksum is not stable: %s then %s", base, again)
	}
	changes := map[string]func(*AppArgs){
		"env":        func(a *AppArgs) { a.Env["LOG_LEVEL"] = pulumi.String("info") },
		"secret key": func(a *AppArgs) { a.SecretKey = pulumi.ToSecret(pulumi.String("rotated")).(pulumi.StringOutput) },
		"database":   func(a *AppArgs) { a.DatabaseURL = pulumi.String("postgresql://other/db") },
		"file":       func(a *AppArgs) { a.ConfigFiles = pulumi.StringMap{"app.toml": pulumi.String("x")} },
	}
	for name, mutate := range changes {
		if got := checksum(mutate); got == base {
			t.Errorf("changing the %s does not change the checksum", name)
		}
	}
}

func TestAppOutputs(t *testing.T) {
	_, app := deploy(t, prodArgs())
	tests := []struct {
		name   string
		output pulumi.Output
		want   any
	}{
		{"namespace", app.Namespace, "nexios-prod"},
		{"service", app.ServiceName, "web-service"},
		{"internal url", app.InternalURL, "http://web-service.nexios-prod.svc.cluster.local:80"},
		{"public url", app.PublicURL, "https://nexios.example.com"},
		{"image", app.Image, "ghcr.io/acme/nexios:1.0.0"},
		{"secret name", app.SecretName, "web-secret-abc123"},
		{"metrics port", app.MetricsPort, 9000},
	}
	for _, tt := range tests {
		got, _ := mocktest.Await(t, tt.output)
		if got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
	if url, _ := mocktest.Await(t, func() pulumi.Output { _, a := deploy(t, devArgs()); return a.PublicURL }()); url != "" {
		t.Errorf("public url without ingress = %q, want empty", url)
	}
}

func TestNewAppRejectsBadArgs(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*AppArgs)
		want   string
	}{
		{"no namespace", func(a *AppArgs) { a.Namespace = "" }, "Namespace is required"},
		{"no image", func(a *AppArgs) { a.Image = nil }, "Image is required"},
		{"no replicas", func(a *AppArgs) { a.Replicas = 0 }, "Replicas must be at least 1"},
		{"min above max", func(a *AppArgs) { a.Autoscaling = &Autoscaling{MinReplicas: 4, MaxReplicas: 2, CPUUtilization: 70} }, "MinReplicas <= MaxReplicas"},
		{"no metric", func(a *AppArgs) { a.Autoscaling = &Autoscaling{MinReplicas: 1, MaxReplicas: 2} }, "at least one metric"},
		{"no limits", func(a *AppArgs) { a.Resources.Limits = kube.ResourceList{} }, "requests and limits"},
		{"ephemeral storage above its limit", func(a *AppArgs) {
			a.Resources.EphemeralStorage = kube.EphemeralStorage{Request: "1Gi", Limit: "512Mi"}
		}, "ephemeral storage request 1Gi is above its limit"},
		{"ingress without host", func(a *AppArgs) { a.Ingress = &Ingress{ClassName: "nginx"} }, "Ingress.Host"},
		{"bad service type", func(a *AppArgs) { a.Service.Type = "External" }, "Service.Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := devArgs()
			tt.mutate(&a)
			mocktest.ExpectRejected(t, func(ctx *pulumi.Context) (*App, error) { return NewApp(ctx, "web", &a) }, tt.want)
		})
	}
	mocktest.ExpectRejected(t, func(ctx *pulumi.Context) (*App, error) { return NewApp(ctx, "web", nil) }, "args are required")
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

func expectBool(t *testing.T, r mocktest.Resource, path string, want bool) {
	t.Helper()
	got, set := r.Bool(path)
	if !set || got != want {
		t.Errorf("%s %s: %s = %v (set %v), want %v", r.Type, r.Name, path, got, set, want)
	}
}

// The container requests and limits ephemeral storage that covers its /tmp emptyDir and its logs;
// a caller's own sizes win, and volume claims add nothing.
func TestEphemeralStorage(t *testing.T) {
	own := devArgs()
	own.Resources.EphemeralStorage = kube.EphemeralStorage{Request: "1Gi", Limit: "2Gi"}
	tests := []struct {
		name           string
		args           AppArgs
		request, limit string
	}{
		{"dev", devArgs(), "128Mi", "256Mi"},
		{"prod, with a volume claim", prodArgs(), "128Mi", "256Mi"},
		{"the caller's", own, "1Gi", "2Gi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			d := m.Find(t, tDeployment, "web-deployment")
			expectString(t, d, container+`.resources.requests["ephemeral-storage"]`, tt.request)
			expectString(t, d, container+`.resources.limits["ephemeral-storage"]`, tt.limit)
			expectString(t, d, podSpec+".volumes[0].emptyDir.sizeLimit", tmpVolumeSizeLimit)
			podcheck.EphemeralStorage(t, d, podcheck.TemplateSpec)
			podcheck.Restricted(t, d, podcheck.TemplateSpec)
		})
	}
}

// `up` waits for the Deployment's rollout as long as its progress deadline (and the slack for the
// controller's verdict), never the provider's own ten minutes.
func TestRolloutWait(t *testing.T) {
	short := devArgs()
	short.Rollout.ProgressDeadlineSeconds = 30
	tests := []struct {
		name string
		args AppArgs
		want string
	}{
		{"the default deadline", devArgs(), "10m30s"},
		{"a short deadline", short, "1m0s"},
		{"prod", prodArgs(), "10m30s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			d := m.Find(t, tDeployment, "web-deployment")
			if d.CreateTimeout != tt.want || d.UpdateTimeout != tt.want {
				t.Errorf("timeouts create %q update %q, want %q", d.CreateTimeout, d.UpdateTimeout, tt.want)
			}
		})
	}
}
