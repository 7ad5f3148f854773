package policy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
	"github.com/nexios-labs/nexios-k8s/internal/props"
	"github.com/nexios-labs/nexios-k8s/program"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// committed returns the configuration of a committed stack file, as the CLI hands it to the
// program; prod's database URL, never committed, is added as the secret its file would hold.
func committed(t *testing.T, stack string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatalf("reading the stack file: %v", err)
	}
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("parsing Pulumi.%s.yaml: %v", stack, err)
	}
	if stack == "prod" {
		file.Config["nexios:databaseUrl"] = "postgresql://nexios:hunter2@db.internal:5432/nexios"
	}
	return file.Config
}

// withBackups is prod's configuration running the in-cluster PostgreSQL (with its backups, on in
// prod) instead of the configured database.
func withBackups(t *testing.T, prod map[string]any) map[string]any {
	t.Helper()
	out := with(t, prod, "nexios:postgres", map[string]any{"enabled": true})
	delete(out, "nexios:databaseUrl")
	return out
}

// with returns a copy of cfg with the app's keys in app changed.
func with(t *testing.T, cfg map[string]any, key string, change map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, v := range cfg {
		out[k] = v
	}
	merged := map[string]any{}
	if m, ok := cfg[key].(map[string]any); ok {
		for k, v := range m {
			merged[k] = v
		}
	}
	for k, v := range change {
		merged[k] = v
	}
	out[key] = merged
	return out
}

// stackResources runs the program under the recording mocks with the configuration and returns
// what a preview's steps would carry: every registered resource with its inputs as the provider
// checks them (a Kubernetes object without a metadata.name gets its auto-name there, as the mocks
// give it in its outputs), and the stack's policy view.
func stackResources(t *testing.T, stack string, values map[string]any) (Stack, []Resource) {
	t.Helper()
	cfg := mocktest.NewConfig(t, values, "nexios:databaseUrl")
	m := &mocktest.Mocks{}
	var st Stack
	err := m.Run(stack, cfg, func(ctx *pulumi.Context) error {
		c, err := stacks.FromContext(ctx)
		if err != nil {
			return err
		}
		st = StackOf(c)
		_, err = program.Deploy(ctx, c)
		return err
	})
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	var out []Resource
	for _, r := range m.Resources() {
		inputs := r.Inputs.Copy()
		if strings.HasPrefix(r.Type, "kubernetes:") && r.Custom && r.String("metadata.name") == "" {
			meta := resource.PropertyMap{}
			if v, ok := inputs["metadata"]; ok && v.IsObject() {
				meta = v.ObjectValue().Copy()
			}
			meta["name"] = resource.NewStringProperty(r.Name + "-abc123")
			inputs["metadata"] = resource.NewObjectProperty(meta)
		}
		urn := resource.NewURN(tokens.QName(stack), mocktest.Project, "", tokens.Type(r.Type), r.Name)
		out = append(out, Resource{URN: string(urn), Type: r.Type, Name: r.Name, Inputs: props.Map(inputs)})
	}
	return st, out
}

// edit changes the inputs of the resource of this type and name at a dotted path: set to value,
// or removed when value is nil.
func edit(t *testing.T, rs []Resource, typ, name, path string, value any) {
	t.Helper()
	for i, r := range rs {
		if r.Type != typ || r.Name != name {
			continue
		}
		tree := resource.PropertyMap(r.Inputs).Mappable()
		steps := strings.Split(path, ".")
		var node any = tree
		for _, step := range steps[:len(steps)-1] {
			node = walk(t, node, step)
		}
		last := steps[len(steps)-1]
		obj, ok := node.(map[string]any)
		if !ok {
			t.Fatalf("%s %s: %s is not in an object", typ, name, path)
		}
		if value == nil {
			delete(obj, last)
		} else {
			obj[last] = value
		}
		rs[i].Inputs = props.Map(resource.NewPropertyMapFromMap(tree))
		return
	}
	t.Fatalf("no %s named %s", typ, name)
}

// walk takes one step of a path: a key, or key[index].
func walk(t *testing.T, node any, step string) any {
	t.Helper()
	key, index, indexed := strings.Cut(strings.TrimSuffix(step, "]"), "[")
	obj, ok := node.(map[string]any)
	if !ok || obj[key] == nil {
		t.Fatalf("no %s in %v", key, node)
	}
	if !indexed {
		return obj[key]
	}
	i, err := strconv.Atoi(index)
	list, ok := obj[key].([]any)
	if err != nil || !ok || i >= len(list) {
		t.Fatalf("no %s in %v", step, node)
	}
	return list[i]
}

const (
	appDeployment = "nexios-deployment"
	appContainer  = "spec.template.spec.containers[0]"
	fluentBit     = "nexios-logging-fluent-bit"
	unknownValue  = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
)

// TestCommittedStacksPass: the committed dev and prod stacks break no policy: no error, no warning.
func TestCommittedStacksPass(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		t.Run(stack, func(t *testing.T) {
			st, rs := stackResources(t, stack, committed(t, stack))
			if len(rs) < 40 {
				t.Fatalf("%d resources, want the whole stack", len(rs))
			}
			for _, f := range Check(st, rs) {
				t.Errorf("%s %s: %s", f.Severity, f.Rule.ID, f.Message)
			}
		})
	}
}

// TestPolicies runs each policy both ways through the real program: a stack that complies, and one
// that breaks it by its configuration or, where the program cannot be configured into breaking it,
// by an edit of the registered inputs.
func TestPolicies(t *testing.T) {
	dev, prod := committed(t, "dev"), committed(t, "prod")
	type change func(t *testing.T, rs []Resource)
	tests := []struct {
		name    string
		stack   string
		config  map[string]any
		change  change
		rule    string
		want    Severity // "" for no finding of the rule
		message string   // part of the finding's message: the resource and the fix
	}{
		{"resources: every container bounded", "prod", prod, nil, "container-resources", "", ""},
		{"resources: no memory limit", "dev", dev, func(t *testing.T, rs []Resource) {
			edit(t, rs, typeDeployment, appDeployment, appContainer+".resources.limits.memory", nil)
		}, "container-resources", Error, "Deployment nexios-deployment: container app has no memory limit; set resources.limits.memory"},
		{"resources: no ephemeral-storage request", "dev", dev, func(t *testing.T, rs []Resource) {
			edit(t, rs, typeDeployment, appDeployment, appContainer+".resources.requests.ephemeral-storage", nil)
		}, "container-resources", Error, "Deployment nexios-deployment: container app: ephemeral-storage request"},
		{"resources: unknown in a preview", "dev", dev, func(t *testing.T, rs []Resource) {
			edit(t, rs, typeDeployment, appDeployment, appContainer+".resources.limits.memory", resource.MakeComputed(resource.NewStringProperty("")))
		}, "container-resources", "", ""},

		{"image: pinned in prod", "prod", prod, nil, "image-pinned", "", ""},
		{"image: pinned by digest", "prod", with(t, prod, "nexios:app", map[string]any{"image": "ghcr.io/acme/nexios@sha256:" + strings.Repeat("a", 64)}), nil, "image-pinned", "", ""},
		// The configuration refuses an unpinned app image in prod (stacks' validation); the policy
		// also guards the images the components choose, so these edit the registered inputs.
		{"image: latest in prod", "prod", prod, func(t *testing.T, rs []Resource) {
			edit(t, rs, typeDeployment, appDeployment, appContainer+".image", "ghcr.io/acme/nexios:latest")
		}, "image-pinned", Error, `Deployment nexios-deployment: container app's image "ghcr.io/acme/nexios:latest" uses the moving ` + "`latest`" + ` tag; pin a version or a digest (for the app, nexios:app.image`},
		{"image: no tag in prod", "prod", prod, func(t *testing.T, rs []Resource) {
			edit(t, rs, "kubernetes:apps/v1:DaemonSet", fluentBit, "spec.template.spec.containers[0].image", "registry:5000/fluent-bit")
		}, "image-pinned", Error, `DaemonSet nexios-logging-fluent-bit: container fluent-bit's image "registry:5000/fluent-bit" has no tag`},
		{"image: latest in dev warns", "dev", with(t, dev, "nexios:app", map[string]any{"image": "ghcr.io/acme/nexios:latest"}), nil, "image-pinned", Warning, "uses the moving `latest` tag"},
		{"image: unknown in a preview", "dev", with(t, dev, "nexios:app", map[string]any{"image": "ghcr.io/acme/nexios:latest"}), func(t *testing.T, rs []Resource) {
			edit(t, rs, typeDeployment, appDeployment, appContainer+".image", unknownValueProperty())
		}, "image-pinned", "", ""},

		{"restricted: every pod, Fluent Bit in its privileged namespace", "prod", prod, nil, "pod-security-restricted", "", ""},
		{"restricted: a privileged app container", "dev", dev, func(t *testing.T, rs []Resource) {
			edit(t, rs, typeDeployment, appDeployment, appContainer+".securityContext.privileged", true)
		}, "pod-security-restricted", Error, "Deployment nexios-deployment: not `restricted` in namespace nexios-dev: container app is privileged; give its pod and containers the restricted security contexts"},
		{"restricted: Fluent Bit outside its exception", "prod", prod, func(t *testing.T, rs []Resource) {
			edit(t, rs, "kubernetes:apps/v1:DaemonSet", fluentBit, "metadata.namespace", "logging")
		}, "pod-security-restricted", Error, "DaemonSet nexios-logging-fluent-bit: not `restricted` in namespace logging"},

		// The backup CronJob's pods are checked like every workload's, at the CronJob's pod spec.
		{"restricted: the database backup's pods", "prod", withBackups(t, prod), nil, "pod-security-restricted", "", ""},
		{"restricted: a backup container that may escalate", "prod", withBackups(t, prod), func(t *testing.T, rs []Resource) {
			edit(t, rs, "kubernetes:batch/v1:CronJob", "nexios-postgres-backup", "spec.jobTemplate.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation", true)
		}, "pod-security-restricted", Error, "CronJob nexios-postgres-backup: not `restricted` in namespace nexios-prod: container backup does not forbid privilege escalation"},
		{"resources: the database backup's container bounded", "prod", withBackups(t, prod), nil, "container-resources", "", ""},
		{"resources: a backup container without an ephemeral-storage limit", "prod", withBackups(t, prod), func(t *testing.T, rs []Resource) {
			edit(t, rs, "kubernetes:batch/v1:CronJob", "nexios-postgres-backup", "spec.jobTemplate.spec.template.spec.containers[0].resources.limits.ephemeral-storage", nil)
		}, "container-resources", Error, "CronJob nexios-postgres-backup: container backup: ephemeral-storage request"},

		{"budget: prod's replicated workloads", "prod", prod, nil, "disruption-budget", "", ""},
		{"budget: one replica needs none", "dev", dev, nil, "disruption-budget", "", ""},
		{"budget: HPA minimum of 3 without one", "prod", with(t, prod, "nexios:app", map[string]any{"disruptionBudget": map[string]any{"enabled": false}}), nil, "disruption-budget", Error,
			"Deployment nexios-deployment: 3 replicas (its HPA's minReplicas) and no PodDisruptionBudget selects its pods in namespace nexios-prod; add one (for the app, nexios:app.disruptionBudget.enabled: true)"},
		{"budget: 2 replicas without one", "dev", with(t, dev, "nexios:app", map[string]any{"replicas": 2}), nil, "disruption-budget", Error, "Deployment nexios-deployment: 2 replicas (spec.replicas)"},

		{"deny: every namespace", "prod", prod, nil, "default-deny-ingress", "", ""},
		{"deny: app's policies off", "dev", with(t, dev, "nexios:app", map[string]any{"networkPolicy": map[string]any{"enabled": false}}), nil, "default-deny-ingress", Error,
			"Namespace nexios-namespace: namespace nexios-dev has no default-deny NetworkPolicy"},

		{"hpa: replicas left to it", "prod", prod, nil, "hpa-without-replicas", "", ""},
		{"hpa: replicas set", "prod", prod, func(t *testing.T, rs []Resource) {
			edit(t, rs, typeDeployment, appDeployment, "spec.replicas", 3)
		}, "hpa-without-replicas", Error, "Deployment nexios-deployment: sets spec.replicas while HorizontalPodAutoscaler nexios-hpa scales it"},

		{"storage: prod's volume claims", "prod", prod, nil, "prod-persistent-storage", "", ""},
		{"storage: Elasticsearch on an emptyDir in prod", "prod", with(t, prod, "nexios:logging", map[string]any{"elasticsearch": map[string]any{"ephemeralStorage": true}}), nil, "prod-persistent-storage", Error,
			"StatefulSet nexios-logging-es: keeps its data on the node's ephemeral storage in prod, lost with the pod; set nexios:logging.elasticsearch.ephemeralStorage to false"},
		{"storage: Prometheus on an emptyDir in prod", "prod", prod, func(t *testing.T, rs []Resource) {
			edit(t, rs, typeStatefulSet, "nexios-monitoring-prometheus", "spec.volumeClaimTemplates", nil)
		}, "prod-persistent-storage", Error, "StatefulSet nexios-monitoring-prometheus: keeps its data on the node's ephemeral storage in prod, lost with the pod; set nexios:monitoring.storageSize"},
		{"storage: dev may use emptyDirs", "dev", with(t, dev, "nexios:logging", map[string]any{"enabled": true, "elasticsearch": map[string]any{"ephemeralStorage": true}}), nil, "prod-persistent-storage", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, rs := stackResources(t, tt.stack, tt.config)
			if tt.change != nil {
				tt.change(t, rs)
			}
			var found []Finding
			for _, f := range Check(st, rs) {
				if f.Rule.ID == tt.rule {
					found = append(found, f)
				}
			}
			if tt.want == "" {
				for _, f := range found {
					t.Errorf("unexpected %s: %s", f.Severity, f.Message)
				}
				return
			}
			for _, f := range found {
				if f.Severity == tt.want && strings.Contains(f.Message, tt.message) {
					return
				}
			}
			t.Errorf("findings of %s: %+v, want a %s containing %q", tt.rule, found, tt.want, tt.message)
		})
	}
}

func unknownValueProperty() resource.PropertyValue {
	return fromEvent(map[string]any{"v": unknownValue})["v"]
}
