package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/nexios-labs/nexios-k8s/stacks"
)

func policyStep(op apitype.OpType, typ, name string, inputs map[string]any) events.EngineEvent {
	urn := "urn:pulumi:dev::nexios::" + typ + "::" + name
	m := apitype.StepEventMetadata{Op: op, URN: urn, Type: typ}
	if op != apitype.OpDelete {
		m.New = &apitype.StepEventStateMetadata{Type: typ, URN: urn, Inputs: inputs}
	}
	return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: m}}}
}

// A namespace and a NetworkPolicy denying its ingress, as a preview's steps carry them.
func policyNamespace(name string) events.EngineEvent {
	return policyStep(apitype.OpSame, "kubernetes:core/v1:Namespace", name, map[string]any{"metadata": map[string]any{"name": name}})
}

func denyAll(ns string) events.EngineEvent {
	return policyStep(apitype.OpCreate, "kubernetes:networking.k8s.io/v1:NetworkPolicy", ns+"-deny", map[string]any{
		"metadata": map[string]any{"namespace": ns}, "spec": map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress"}},
	})
}

// TestPolicyChecks feeds a preview's events to the policy check as the engine would and checks what
// deploy prints, the exit code and the SARIF report.
func TestPolicyChecks(t *testing.T) {
	tests := []struct {
		name      string
		events    []events.EngineEvent
		resources int
		code      int
		stderr    []string
		results   int
	}{
		{"compliant", []events.EngineEvent{policyNamespace("nexios-dev"), denyAll("nexios-dev")}, 2, exitOK,
			[]string{"policies: 7 checked over 2 resources of stack dev: 0 errors, 0 warnings"}, 0},
		{"a namespace without its deny policy fails", []events.EngineEvent{policyNamespace("nexios-dev")}, 1, exitPolicy, []string{
			"policy error [default-deny-ingress]: Namespace nexios-dev: namespace nexios-dev has no default-deny NetworkPolicy",
			"add one (for the app, nexios:app.networkPolicy.enabled: true)",
			"stack dev breaks 1 error-severity policy (listed above, each with its fix); nothing was changed",
		}, 1},
		// The deny policy is being deleted, and the namespace replaced: the resources counted are
		// those the program still registers, once each.
		{"a deleted policy does not count", []events.EngineEvent{
			policyStep(apitype.OpReplace, "kubernetes:core/v1:Namespace", "nexios-dev", map[string]any{"metadata": map[string]any{"name": "old"}}),
			policyNamespace("nexios-dev"),
			policyStep(apitype.OpDelete, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "nexios-dev-deny", nil),
		}, 1, exitPolicy, []string{"Namespace nexios-dev: namespace nexios-dev has no default-deny", "over 1 resources"}, 1},
		{"a warning passes", []events.EngineEvent{policyNamespace("nexios-dev"), denyAll("nexios-dev"),
			policyStep(apitype.OpCreate, "kubernetes:batch/v1:Job", "job", map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"containers": []any{map[string]any{"name": "c", "image": "busybox", "resources": map[string]any{
					"requests": map[string]any{"cpu": "10m", "memory": "16Mi", "ephemeral-storage": "64Mi"},
					"limits":   map[string]any{"cpu": "10m", "memory": "16Mi", "ephemeral-storage": "128Mi"},
				}}}}}}}),
		}, 3, exitOK, []string{`policy warning [image-pinned]: Job job: container c's image "busybox" has no tag`, "0 errors, 1 warning"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			reportFile := filepath.Join(t.TempDir(), "policy.sarif")
			d := &deployer{opts: options{stack: "dev", policyReport: reportFile}, stderr: &stderr, config: &stacks.Config{Environment: stacks.Dev}}
			ch, checked := policyEvents()
			for _, e := range tt.events {
				ch <- e
			}
			close(ch)
			resources := <-checked
			if len(resources) != tt.resources {
				t.Errorf("%d resources, want %d", len(resources), tt.resources)
			}
			if code := report(&stderr, d.opts, d.checkPolicies(resources)); code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
			raw, err := os.ReadFile(reportFile)
			if err != nil {
				t.Fatalf("the report: %v", err)
			}
			var sarif struct {
				Version string `json:"version"`
				Runs    []struct {
					Results []json.RawMessage `json:"results"`
				} `json:"runs"`
			}
			if err := json.Unmarshal(raw, &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs) != 1 || len(sarif.Runs[0].Results) != tt.results {
				t.Errorf("report (%v): %s\nwant SARIF 2.1.0 with %d results", err, raw, tt.results)
			}
		})
	}
}

// An unwritable report is an error naming the flag.
func TestPolicyReportUnwritable(t *testing.T) {
	var stderr bytes.Buffer
	d := &deployer{opts: options{stack: "dev", policyReport: filepath.Join(t.TempDir(), "missing", "policy.sarif")}, stderr: &stderr, config: &stacks.Config{Environment: stacks.Dev}}
	if err := d.checkPolicies(nil); err == nil || !strings.Contains(err.Error(), "--policy-report") {
		t.Errorf("checkPolicies: %v, want an error naming --policy-report", err)
	}
}
