package policy

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

const deploymentURN = "urn:pulumi:dev::nexios::nexios:components:App$kubernetes:apps/v1:Deployment::nexios-deployment"

// step is a preview's step event of a Deployment whose image is unknown yet and whose env carries a
// secret, serialized as the engine's events carry them.
func step(op apitype.OpType) apitype.StepEventMetadata {
	return apitype.StepEventMetadata{Op: op, URN: deploymentURN, Type: typeDeployment, New: &apitype.StepEventStateMetadata{
		Type: typeDeployment, URN: deploymentURN,
		Inputs: map[string]any{"metadata": map[string]any{"namespace": "nexios-dev"}, "spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "app", "image": unknownValue, "env": []any{map[string]any{"name": "TOKEN", "value": map[string]any{
				"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "[secret]",
			}}}}},
		}}}},
	}}
}

func TestFromStep(t *testing.T) {
	tests := []struct {
		op         apitype.OpType
		registered bool
	}{
		{apitype.OpSame, true},
		{apitype.OpCreate, true},
		{apitype.OpUpdate, true},
		{apitype.OpReplace, true},
		{apitype.OpCreateReplacement, true},
		{apitype.OpDelete, false},
		{apitype.OpDeleteReplaced, false},
		{apitype.OpRead, false},
		{apitype.OpRefresh, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.op), func(t *testing.T) {
			r, ok := FromStep(step(tt.op))
			if ok != tt.registered {
				t.Fatalf("registered = %v, want %v", ok, tt.registered)
			}
			if !ok {
				return
			}
			if r.Name != "nexios-deployment" || r.Type != typeDeployment || r.namespace() != "nexios-dev" {
				t.Errorf("resource %q %q in %q", r.Type, r.Name, r.namespace())
			}
			image := "spec.template.spec.containers[0].image"
			if !r.Inputs.Unknown(image) || r.Inputs.String(image) != "" {
				t.Errorf("the unknown image reads as %q, unknown %v", r.Inputs.String(image), r.Inputs.Unknown(image))
			}
			secret := "spec.template.spec.containers[0].env[0].value"
			if !r.Inputs.IsSecret(secret) || !r.Inputs.Unknown(secret) || r.Inputs.String(secret) != "" {
				t.Errorf("the secret reads as %q (secret %v, unknown %v)", r.Inputs.String(secret), r.Inputs.IsSecret(secret), r.Inputs.Unknown(secret))
			}
		})
	}
	// Without a step's new state there is nothing registered.
	if _, ok := FromStep(apitype.StepEventMetadata{Op: apitype.OpSame, URN: deploymentURN, Type: typeDeployment}); ok {
		t.Error("a step without a new state registers a resource")
	}
}

// TestSARIF checks the report's shape against what SARIF 2.1.0 and code scanning require: one run,
// a driver with its name and every rule (id, shortDescription, defaultConfiguration.level), and each
// result's ruleId and ruleIndex naming one of them, its level, message and a location whose logical
// location is the resource's URN.
func TestSARIF(t *testing.T) {
	levels := []string{"none", "note", "warning", "error"}
	tests := []struct {
		name     string
		findings []Finding
	}{
		{"no findings", nil},
		{"an error and a warning", []Finding{
			{Rule: policies[3].Rule, Severity: Error, URN: deploymentURN, Message: "Deployment nexios-deployment: 2 replicas"},
			{Rule: policies[1].Rule, Severity: Warning, URN: deploymentURN, Message: "Deployment nexios-deployment: latest"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := WriteSARIF(&out, "Pulumi.dev.yaml", tt.findings); err != nil {
				t.Fatal(err)
			}
			var log struct {
				Schema  string `json:"$schema"`
				Version string `json:"version"`
				Runs    []struct {
					Tool struct {
						Driver struct {
							Name  string `json:"name"`
							Rules []struct {
								ID               string `json:"id"`
								ShortDescription struct {
									Text string `json:"text"`
								} `json:"shortDescription"`
								DefaultConfiguration struct {
									Level string `json:"level"`
								} `json:"defaultConfiguration"`
							} `json:"rules"`
						} `json:"driver"`
					} `json:"tool"`
					Results []struct {
						RuleID    *string `json:"ruleId"`
						RuleIndex *int    `json:"ruleIndex"`
						Level     string  `json:"level"`
						Message   struct {
							Text string `json:"text"`
						} `json:"message"`
						Locations []struct {
							PhysicalLocation struct {
								ArtifactLocation struct {
									URI string `json:"uri"`
								} `json:"artifactLocation"`
							} `json:"physicalLocation"`
							LogicalLocations []struct {
								FullyQualifiedName string `json:"fullyQualifiedName"`
								Kind               string `json:"kind"`
							} `json:"logicalLocations"`
						} `json:"locations"`
					} `json:"results"`
				} `json:"runs"`
			}
			dec := json.NewDecoder(&out)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&log); err != nil {
				t.Fatalf("decoding the report: %v", err)
			}
			if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-2.1.0") || len(log.Runs) != 1 {
				t.Fatalf("version %q, schema %q, %d runs; want 2.1.0 and one run", log.Version, log.Schema, len(log.Runs))
			}
			run := log.Runs[0]
			if run.Tool.Driver.Name != ToolName || len(run.Tool.Driver.Rules) != len(policies) {
				t.Errorf("driver %q with %d rules, want %q with %d", run.Tool.Driver.Name, len(run.Tool.Driver.Rules), ToolName, len(policies))
			}
			var ids []string
			for _, r := range run.Tool.Driver.Rules {
				if r.ID == "" || r.ShortDescription.Text == "" || !slices.Contains(levels, r.DefaultConfiguration.Level) || slices.Contains(ids, r.ID) {
					t.Errorf("rule %+v: want a unique id, a short description and a level", r)
				}
				ids = append(ids, r.ID)
			}
			if run.Results == nil || len(run.Results) != len(tt.findings) {
				t.Fatalf("%d results (nil: %v), want %d", len(run.Results), run.Results == nil, len(tt.findings))
			}
			for i, r := range run.Results {
				f := tt.findings[i]
				if r.RuleID == nil || r.RuleIndex == nil || *r.RuleIndex >= len(ids) || ids[*r.RuleIndex] != *r.RuleID || *r.RuleID != f.Rule.ID {
					t.Errorf("result %d: ruleId %v, ruleIndex %v, want %s at its index", i, r.RuleID, r.RuleIndex, f.Rule.ID)
				}
				if r.Level != string(f.Severity) || r.Message.Text != f.Message {
					t.Errorf("result %d: level %q, message %q", i, r.Level, r.Message.Text)
				}
				if len(r.Locations) != 1 || len(r.Locations[0].LogicalLocations) != 1 || r.Locations[0].LogicalLocations[0].FullyQualifiedName != f.URN || r.Locations[0].LogicalLocations[0].Kind != "resource" ||
					r.Locations[0].PhysicalLocation.ArtifactLocation.URI != "Pulumi.dev.yaml" {
					t.Errorf("result %d: locations %+v, want the stack file and the URN %s", i, r.Locations, f.URN)
				}
			}
		})
	}
}

func TestCount(t *testing.T) {
	errs, warns := Count([]Finding{{Severity: Error}, {Severity: Warning}, {Severity: Warning}})
	if errs != 1 || warns != 2 {
		t.Errorf("Count = %d errors, %d warnings; want 1 and 2", errs, warns)
	}
}
