package program

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

const (
	tProvider   = "pulumi:providers:kubernetes"
	tDeployment = "kubernetes:apps/v1:Deployment"
	tHPA        = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
	tPDB        = "kubernetes:policy/v1:PodDisruptionBudget"
	tPassword   = "random:index/randomPassword:RandomPassword"

	databaseURL = "postgresql://nexios:hunter2@db.internal:5432/nexios"
	apiToken    = "tok-5up3r-s3cr3t"
)

func devConfig(t testing.TB) mocktest.Config {
	return mocktest.NewConfig(t, map[string]any{"nexios:app": map[string]any{"image": "ghcr.io/acme/nexios:1.0.0"}})
}

func prodConfig(t *testing.T) mocktest.Config {
	return mocktest.NewConfig(t, map[string]any{
		"nexios:app": map[string]any{
			"image":     "ghcr.io/acme/nexios:1.0.0",
			"secretEnv": map[string]any{"API_TOKEN": apiToken},
			"ingress":   map[string]any{"enabled": true, "host": "nexios.example.com"},
		},
		"nexios:databaseUrl": databaseURL,
	}, "nexios:app", "nexios:databaseUrl")
}

// run executes Deploy the way Run does and returns the exports it would publish.
func run(t *testing.T, stack string, cfg mocktest.Config) (*mocktest.Mocks, pulumi.Map, error) {
	t.Helper()
	m := &mocktest.Mocks{}
	var exports pulumi.Map
	err := m.Run(stack, cfg, func(ctx *pulumi.Context) error {
		c, err := stacks.FromContext(ctx)
		if err != nil {
			return err
		}
		exports, err = Deploy(ctx, c)
		return err
	})
	return m, exports, err
}

func TestEnvironmentsDiffer(t *testing.T) {
	tests := []struct {
		stack        string
		cfg          mocktest.Config
		hpa, pdb     int
		passwords    int
		replicasSet  bool
		spreadBlocks int
	}{
		// dev: monitoring on (Grafana password), logging off, the in-cluster PostgreSQL on (its
		// password); fixed single replica.
		{"dev", devConfig(t), 0, 0, 3, true, 0},
		// prod: HPA on CPU (no custom metric, so no metrics adapter), PDBs (the app's, Elasticsearch's,
		// Kibana's and Alertmanager's), spread over zones and nodes; monitoring and logging both on
		// (elastic, kibana_system, fluentbit_writer, grafana_reader and the CA seed add five passwords).
		{"prod", prodConfig(t), 1, 4, 7, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.stack, func(t *testing.T) {
			m, _, err := run(t, tt.stack, tt.cfg)
			if err != nil {
				t.Fatalf("program: %v", err)
			}
			if got := len(m.OfType(tHPA)); got != tt.hpa {
				t.Errorf("HPAs = %d, want %d", got, tt.hpa)
			}
			if got := len(m.OfType(tPDB)); got != tt.pdb {
				t.Errorf("PDBs = %d, want %d", got, tt.pdb)
			}
			if got := len(m.OfType(tPassword)); got != tt.passwords {
				t.Errorf("generated passwords = %d, want %d", got, tt.passwords)
			}
			d := m.Find(t, tDeployment, "nexios-deployment")
			if _, set := d.Get("spec.replicas"); set != tt.replicasSet {
				t.Errorf("spec.replicas set = %v, want %v", set, tt.replicasSet)
			}
			if got := d.Len("spec.template.spec.topologySpreadConstraints"); got != tt.spreadBlocks {
				t.Errorf("spread constraints = %d, want %d", got, tt.spreadBlocks)
			}
			if got := d.String(`metadata.labels["environment"]`); got != tt.stack {
				t.Errorf("environment label = %q", got)
			}
		})
	}
}

func TestEveryKubernetesResourceUsesTheStackProvider(t *testing.T) {
	m, _, err := run(t, "dev", devConfig(t))
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	providers := m.OfType(tProvider)
	if len(providers) != 1 {
		t.Fatalf("want one explicit provider, got %d", len(providers))
	}
	for _, r := range m.Resources() {
		if strings.HasPrefix(r.Type, "kubernetes:") && !strings.Contains(r.Provider, "kubernetes::kubernetes") {
			t.Errorf("%s %s uses provider %q, not the stack's", r.Type, r.Name, r.Provider)
		}
	}
}

func TestProviderTarget(t *testing.T) {
	tests := []struct {
		name   string
		target map[string]any
		path   string
		want   string
	}{
		{"kubeconfig and context", map[string]any{"kubeconfig": "/etc/kube/config", "context": "prod-eu"}, "context", "prod-eu"},
		{"kubeconfig path", map[string]any{"kubeconfig": "/etc/kube/config"}, "kubeconfig", "/etc/kube/config"},
		{"render to a directory", map[string]any{"renderYamlTo": "out/dev"}, "renderYamlToDirectory", "out/dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mocktest.NewConfig(t, map[string]any{"nexios:app": map[string]any{"image": "ghcr.io/acme/nexios:1.0.0"}, "nexios:target": tt.target})
			m, _, err := run(t, "dev", cfg)
			if err != nil {
				t.Fatalf("program: %v", err)
			}
			p := m.Find(t, tProvider, "kubernetes")
			if got := p.String(tt.path); got != tt.want {
				t.Errorf("provider %s = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestExportsAreTheDocumentedContract(t *testing.T) {
	_, exports, err := run(t, "prod", prodConfig(t))
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	var keys []string
	for k := range exports {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	documented := slices.Clone(Exports)
	sort.Strings(documented)
	if !slices.Equal(keys, documented) {
		t.Errorf("exports %v, documented %v", keys, documented)
	}
	want := map[string]any{
		ExportEnvironment: "prod",
		ExportNamespace:   "nexios-prod",
		ExportPublicURL:   "https://nexios.example.com",
		ExportImage:       "ghcr.io/acme/nexios:1.0.0",
		ExportInternalURL: "http://nexios-service.nexios-prod.svc.cluster.local:80",
		ExportSecretName:  "nexios-secret-abc123",
	}
	for key, value := range exports {
		got, secret := mocktest.Await(t, pulumi.ToOutput(value))
		if secret {
			t.Errorf("export %s is secret: exports carry names, never values", key)
		}
		if w, ok := want[key]; ok && got != w {
			t.Errorf("export %s = %v, want %v", key, got, w)
		}
	}
}

func TestSecretValuesAreSecretWhereverTheyGo(t *testing.T) {
	m, _, err := run(t, "prod", prodConfig(t))
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	secretValues := []string{databaseURL, apiToken}
	for _, r := range m.OfType(tPassword) {
		secretValues = append(secretValues, mocktest.GeneratedPassword(r.Name))
	}
	reached := map[string]bool{}
	for _, r := range m.Resources() {
		walkPlaintext(resource.NewObjectProperty(r.Inputs), false, func(s string, secret bool) {
			for _, v := range secretValues {
				if strings.Contains(s, v) {
					reached[v] = true
					if !secret {
						t.Errorf("%s %s carries a secret value in plain text", r.Type, r.Name)
					}
				}
			}
		})
	}
	for _, v := range secretValues[:3] {
		if !reached[v] {
			t.Errorf("secret value %q never reached a resource; the test would pass vacuously", v)
		}
	}
	d := m.Find(t, tDeployment, "nexios-deployment")
	if !d.IsSecret(`spec.template.metadata.annotations["checksum/config"]`) {
		t.Error("the checksum over secret data is not secret")
	}
}

// expectExports checks the values of the named exports.
func expectExports(t *testing.T, exports pulumi.Map, want map[string]string) {
	t.Helper()
	for key, w := range want {
		if got, _ := mocktest.Await(t, pulumi.ToOutput(exports[key])); got != w {
			t.Errorf("export %s = %v, want %s", key, got, w)
		}
	}
}

// walkPlaintext calls visit for every string in v, saying whether a secret marker encloses it.
func walkPlaintext(v resource.PropertyValue, inSecret bool, visit func(string, bool)) {
	switch {
	case v.IsSecret():
		walkPlaintext(v.SecretValue().Element, true, visit)
	case v.IsString():
		visit(v.StringValue(), inSecret)
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			walkPlaintext(e, inSecret, visit)
		}
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			walkPlaintext(e, inSecret, visit)
		}
	}
}

func TestInvalidConfigRegistersNothing(t *testing.T) {
	const img = "ghcr.io/acme/nexios:1.0.0"
	app := func(extra map[string]any) map[string]any {
		a := map[string]any{"image": img}
		for k, v := range extra {
			a[k] = v
		}
		return map[string]any{"nexios:app": a}
	}
	with := func(base map[string]any, key string, value any) map[string]any {
		base[key] = value
		return base
	}
	tests := []struct {
		name   string
		stack  string
		values map[string]any
		want   string
	}{
		{"prod without database", "prod", app(nil), "nexios:databaseUrl"},
		{"misspelled key", "dev", app(map[string]any{"replcas": 2}), "nexios:app.replcas"},
		{"no image", "dev", map[string]any{}, "nexios:app.image"},
		{"image without tag", "dev", map[string]any{"nexios:app": map[string]any{"image": "ghcr.io/acme/nexios"}}, "nexios:app.image"},
		{"latest in prod", "prod", with(map[string]any{"nexios:app": map[string]any{"image": "nexios:latest"}}, "nexios:databaseUrl", "x"), "nexios:app.image"},
		{"impossible replica range", "dev", app(map[string]any{"autoscaling": map[string]any{"enabled": true, "minReplicas": 5, "maxReplicas": 2}}), "nexios:app.autoscaling.maxReplicas"},
		{"limit below request", "dev", app(map[string]any{"resources": map[string]any{"requests": map[string]any{"cpu": "2"}}}), "nexios:app.resources.limits.cpu"},
		{"plaintext database url", "dev", with(app(nil), "nexios:databaseUrl", "postgresql://u:p@db/x"), "nexios:databaseUrl"},
		{"plaintext secret env", "dev", app(map[string]any{"secretEnv": map[string]any{"TOKEN": "x"}}), "nexios:app.secretEnv.TOKEN"},
		{"wrong type", "dev", app(map[string]any{"port": "http"}), "nexios:app.port"},
		{"unknown environment", "dev", with(app(nil), "nexios:environment", "staging"), "nexios:environment"},
		{"unnamed environment", "qa", app(nil), "nexios:environment"},
		{"ingress without host", "dev", app(map[string]any{"ingress": map[string]any{"enabled": true}}), "nexios:app.ingress.host"},
		{"bad probe path", "dev", app(map[string]any{"probes": map[string]any{"liveness": map[string]any{"path": "health"}}}), "nexios:app.probes.liveness.path"},
		{"render and context", "dev", with(app(nil), "nexios:target", map[string]any{"renderYamlTo": "out", "context": "c"}), "nexios:target.renderYamlTo"},
		{"bad monitoring mode", "dev", with(app(nil), "nexios:monitoring", map[string]any{"mode": "sidecar"}), "nexios:monitoring.mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &mocktest.Mocks{}
			err := m.Run(tt.stack, mocktest.NewConfig(t, tt.values), Run)
			if err == nil || !strings.Contains(err.Error(), tt.want+":") {
				t.Fatalf("want an error naming %s, got %v", tt.want, err)
			}
			if n := len(m.Resources()); n != 0 {
				t.Errorf("%d resources registered for an invalid stack", n)
			}
		})
	}
}

// Under `pulumi up` the CLI passes every key in PULUMI_CONFIG, so unknown top-level keys are caught.
func TestUnknownTopLevelKeyFromCLI(t *testing.T) {
	cfg := devConfig(t)
	cfg.Values["nexios:monitorng"] = "{}"
	raw, err := json.Marshal(cfg.Values)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(pulumi.EnvConfig, string(raw))
	m := &mocktest.Mocks{}
	err = m.Run("dev", cfg, Run)
	if err == nil || !strings.Contains(err.Error(), `nexios:monitorng: unknown key; did you mean "monitoring"?`) {
		t.Fatalf("want the unknown key named with a suggestion, got %v", err)
	}
	if n := len(m.Resources()); n != 0 {
		t.Errorf("%d resources registered for an invalid stack", n)
	}
}

func TestRotationReachesThePasswordKeepers(t *testing.T) {
	cfg := devConfig(t)
	cfg.Values["nexios:secrets"] = `{"rotation":{"appSecretKey":"2026-12"}}`
	m, _, err := run(t, "dev", cfg)
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	if got := m.Find(t, tPassword, "nexios-secrets-app-secret-key").String("keepers.rotation"); got != "2026-12" {
		t.Errorf("keeper = %q, want the configured rotation", got)
	}
}
