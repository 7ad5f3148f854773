package program

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/logging"
	"github.com/nexios-labs/nexios-k8s/components/secrets"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// sizingNodes is the node count the README's totals assume: the local cluster's default.
const sizingNodes = 3

// The README's logging sizing rows are computed from each environment's profile through the same
// mapping and defaults the program deploys; a profile change that is not reflected there fails here,
// printing the rows to paste.
func TestREADMELoggingSizingIsMeasured(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatalf("reading README.md: %v", err)
	}
	for _, env := range []stacks.Environment{stacks.Dev, stacks.Prod} {
		cfg, err := stacks.Defaults(env, string(env))
		if err != nil {
			t.Fatal(err)
		}
		// Sizing reads only plain values; the generated passwords play no part.
		s, err := logging.SizingOf(*loggingArgs(&cfg, &secrets.Secrets{}))
		if err != nil {
			t.Fatalf("%s sizing: %v", env, err)
		}
		row := fmt.Sprintf("| %s | %s | %s | %s | %s |", env, s.Elasticsearch, s.Kibana, s.FluentBitPerNode, s.Total(sizingNodes))
		if !strings.Contains(string(raw), row+"\n") {
			t.Errorf("README.md lacks the measured logging sizing row for %s:\n%s", env, row)
		}
	}
}

func TestLoggingOffExportsEmptyValues(t *testing.T) {
	m, exports, err := run(t, "dev", devConfig(t))
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	for _, key := range loggingExports {
		if got, _ := mocktest.Await(t, pulumi.ToOutput(exports[key])); got != "" {
			t.Errorf("export %s = %v with logging off", key, got)
		}
	}
	for _, r := range m.Resources() {
		if r.Type == "nexios:components:Logging" {
			t.Error("a logging component in a stack with logging off")
		}
	}
}

func TestLoggingOnInProd(t *testing.T) {
	cfg := prodConfig(t)
	cfg.Values["nexios:logging"] = `{"retentionDays": 14, "kibana": {"ingressHost": "logs.example.com"}}`
	m, exports, err := run(t, "prod", cfg)
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	want := map[string]string{
		ExportLoggingNamespace: "logging",
		ExportElasticsearchURL: "https://nexios-logging-es.logging.svc.cluster.local:9200",
		ExportKibanaURL:        "https://logs.example.com",
		ExportLogsDataStream:   "nexios-logs",
		ExportLoggingSecret:    "nexios-logging-credentials-abc123",
	}
	expectExports(t, exports, want)
	policy := m.Find(t, "kubernetes:core/v1:ConfigMap", "nexios-logging-setup").String(`data["ilm-policy.json"]`)
	if !strings.Contains(policy, `"min_age": "14d"`) {
		t.Errorf("the configured retention does not reach the ILM policy:\n%s", policy)
	}
	sts := m.Find(t, "kubernetes:apps/v1:StatefulSet", "nexios-logging-es")
	if got := sts.Number("spec.replicas"); got != 3 {
		t.Errorf("elasticsearch replicas = %v, want prod's 3", got)
	}
	if got := sts.Len("spec.template.spec.topologySpreadConstraints"); got != 1 {
		t.Errorf("zone spread = %d, want 1 in prod", got)
	}
	// The app's namespace stays restricted; only logging's is privileged.
	if got := m.Find(t, "kubernetes:core/v1:Namespace", "nexios-namespace").String(`metadata.labels["pod-security.kubernetes.io/enforce"]`); got != "restricted" {
		t.Errorf("app namespace enforces %q", got)
	}
}

// Snapshots follow the stack: on by default in prod, off in dev, each setting reaching the policy
// and the shared volume claim.
func TestLoggingSnapshotsFollowTheStack(t *testing.T) {
	tests := []struct {
		name, stack, logging string
		wantSize, wantPolicy string // empty: no snapshots
	}{
		{name: "prod by default", stack: "prod", logging: `{}`, wantSize: "200Gi", wantPolicy: `"schedule": "0 30 1 * * ?"`},
		{name: "prod, settings", stack: "prod", logging: `{"snapshots": {"schedule": "0 0 3 * * ?", "expireAfterDays": 90, "storageSize": "1Ti", "storageClass": "efs"}}`,
			wantSize: "1Ti", wantPolicy: `"expire_after": "90d"`},
		{name: "prod, off", stack: "prod", logging: `{"snapshots": {"enabled": false}}`},
		{name: "dev with logging", stack: "dev", logging: `{"enabled": true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := devConfig(t)
			if tt.stack == "prod" {
				cfg = prodConfig(t)
			}
			cfg.Values["nexios:logging"] = tt.logging
			m, _, err := run(t, tt.stack, cfg)
			if err != nil {
				t.Fatalf("program: %v", err)
			}
			const claimType = "kubernetes:core/v1:PersistentVolumeClaim"
			policy := m.Find(t, "kubernetes:core/v1:ConfigMap", "nexios-logging-setup").String(`data["snapshot-policy.json"]`)
			if tt.wantSize == "" {
				if m.Has(claimType, "nexios-logging-snapshots") || policy != "" {
					t.Errorf("snapshots are set up (policy %q), want none", policy)
				}
				return
			}
			claim := m.Find(t, claimType, "nexios-logging-snapshots")
			if got := claim.String(`spec.resources.requests["storage"]`); got != tt.wantSize {
				t.Errorf("snapshot volume %s, want %s", got, tt.wantSize)
			}
			if !strings.Contains(policy, tt.wantPolicy) {
				t.Errorf("snapshot policy lacks %s:\n%s", tt.wantPolicy, policy)
			}
		})
	}
}
