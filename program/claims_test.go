package program

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// sharedClusterCases are stacks that together use every kind of object the program creates: the dev
// profile, the prod one (logging and monitoring), one scaling on a custom metric (the adapter and its
// APIService) and one without monitoring.
func sharedClusterCases(t *testing.T) []struct {
	stack string
	cfg   mocktest.Config
} {
	customMetric := mocktest.NewConfig(t, map[string]any{
		"nexios:app": map[string]any{"image": "ghcr.io/acme/nexios:1.0.0", "autoscaling": map[string]any{
			"enabled": true, "customMetrics": map[string]any{"http_requests_per_second": 5}}},
		"nexios:logging":    map[string]any{"enabled": true, "namespace": "logs-staging-dev"},
		"nexios:monitoring": map[string]any{"namespace": "monitoring-staging-dev"},
	})
	noMonitoring := mocktest.NewConfig(t, map[string]any{
		"nexios:app":        map[string]any{"image": "ghcr.io/acme/nexios:1.0.0"},
		"nexios:monitoring": map[string]any{"enabled": false},
	})
	return []struct {
		stack string
		cfg   mocktest.Config
	}{
		{"dev", devConfig(t)},
		{"prod", prodConfig(t)},
		{"staging-dev", customMetric},
		{"bare-dev", noMonitoring},
	}
}

// runWithConfig is run, also returning the parsed configuration.
func runWithConfig(t *testing.T, stack string, cfg mocktest.Config) (*mocktest.Mocks, *stacks.Config) {
	t.Helper()
	m := &mocktest.Mocks{}
	var parsed *stacks.Config
	err := m.Run(stack, cfg, func(ctx *pulumi.Context) error {
		c, err := stacks.FromContext(ctx)
		if err != nil {
			return err
		}
		parsed = c
		_, err = Deploy(ctx, c)
		return err
	})
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	return m, parsed
}

// TestEveryObjectCarriesTheStackLabel: on a cluster several stacks share, the label is how an object's
// owner is known (cmd/deploy's refusals) and how everything a stack left is found.
func TestEveryObjectCarriesTheStackLabel(t *testing.T) {
	for _, tt := range sharedClusterCases(t) {
		t.Run(tt.stack, func(t *testing.T) {
			m, _ := runWithConfig(t, tt.stack, tt.cfg)
			want := mocktest.Project + "." + tt.stack
			objects := 0
			for _, r := range m.Resources() {
				if !strings.HasPrefix(r.Type, "kubernetes:") || !r.Custom {
					continue
				}
				objects++
				if got := r.String(`metadata.labels["` + kube.LabelStack + `"]`); got != want {
					t.Errorf("%s %s: label %s = %q, want %q", r.Type, r.Name, kube.LabelStack, got, want)
				}
				if _, templated := r.Get("spec.template.metadata"); templated {
					if got := r.String(`spec.template.metadata.labels["` + kube.LabelStack + `"]`); got != want {
						t.Errorf("%s %s: pod template label %s = %q, want %q", r.Type, r.Name, kube.LabelStack, got, want)
					}
				}
			}
			if objects < 9 {
				t.Errorf("only %d Kubernetes objects registered: the check would pass vacuously", objects)
			}
		})
	}
}

// TestOnlyClaimsHaveFixedNames: every object whose name the program fixes is one Claims lists (so
// cmd/deploy checks its owner before anything changes), and every claim is an object Deploy creates;
// everything else is auto-named per stack, or lives in a claimed namespace.
func TestOnlyClaimsHaveFixedNames(t *testing.T) {
	for _, tt := range sharedClusterCases(t) {
		t.Run(tt.stack, func(t *testing.T) {
			m, cfg := runWithConfig(t, tt.stack, tt.cfg)
			claims, err := Claims(cfg)
			if err != nil {
				t.Fatalf("claims: %v", err)
			}
			var claimed, namespaces []string
			for _, c := range claims {
				claimed = append(claimed, c.Type+" "+c.Name)
				if c.Resource == "namespace" {
					namespaces = append(namespaces, c.Name)
				}
			}
			var fixed []string
			for _, r := range m.Resources() {
				if !strings.HasPrefix(r.Type, "kubernetes:") || !r.Custom {
					continue
				}
				name := r.String("metadata.name")
				namespace := r.String("metadata.namespace")
				switch {
				case namespace == "kube-system" && name != "":
					t.Errorf("%s %s has the fixed name %q in kube-system, which every stack shares", r.Type, r.Name, name)
				case namespace == "" && name != "":
					fixed = append(fixed, r.Type+" "+name)
				case namespace != "" && namespace != "kube-system" && !slices.Contains(namespaces, namespace):
					t.Errorf("%s %s is in namespace %q, which is not one of the stack's %v", r.Type, r.Name, namespace, namespaces)
				}
			}
			slices.Sort(fixed)
			slices.Sort(claimed)
			if !slices.Equal(fixed, claimed) {
				t.Errorf("cluster-scoped objects with fixed names %v, claims %v", fixed, claimed)
			}
		})
	}
}

func TestClaimsNameTheirKeys(t *testing.T) {
	cases := sharedClusterCases(t)
	_, cfg := runWithConfig(t, cases[2].stack, cases[2].cfg)
	claims, err := Claims(cfg)
	if err != nil {
		t.Fatalf("claims: %v", err)
	}
	want := []Claim{
		{"namespace", "nexios-staging-dev", "target.namespace", TypeNamespace},
		{"namespace", "logs-staging-dev", "logging.namespace", TypeNamespace},
		{"namespace", "logs-staging-dev-agents", "logging.namespace", TypeNamespace},
		{"namespace", "monitoring-staging-dev", "monitoring.namespace", TypeNamespace},
		{"apiservice", "v1beta1.custom.metrics.k8s.io", "app.autoscaling.customMetrics", TypeAPIService},
	}
	if !slices.Equal(claims, want) {
		t.Errorf("claims\n %v\nwant\n %v", claims, want)
	}
}

func TestStackNameTooLongForTheLabelRegistersNothing(t *testing.T) {
	m := &mocktest.Mocks{}
	stack := strings.Repeat("s", 60) + "-dev"
	cfg := devConfig(t)
	cfg.Values["nexios:target"] = `{"namespace": "nexios-long"}`
	err := m.Run(stack, cfg, Run)
	if err == nil || !strings.Contains(err.Error(), kube.LabelStack) {
		t.Fatalf("want an error naming the label %s, got %v", kube.LabelStack, err)
	}
	if n := len(m.Resources()); n != 0 {
		t.Errorf("%d resources registered", n)
	}
}
