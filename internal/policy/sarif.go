package policy

import (
	"encoding/json"
	"fmt"
	"io"
)

// The SARIF 2.1.0 document WriteSARIF writes: one run of one tool, every rule, every finding.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name  string      `json:"name"`
		Rules []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string        `json:"id"`
		ShortDescription     sarifText     `json:"shortDescription"`
		DefaultConfiguration sarifDefaults `json:"defaultConfiguration"`
	}
	sarifDefaults struct {
		Level Severity `json:"level"`
	}
	sarifText struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex int             `json:"ruleIndex"`
		Level     Severity        `json:"level"`
		Message   sarifText       `json:"message"`
		Locations []sarifLocation `json:"locations"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysical  `json:"physicalLocation"`
		LogicalLocations []sarifLogical `json:"logicalLocations"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifLogical struct {
		FullyQualifiedName string `json:"fullyQualifiedName"`
		Kind               string `json:"kind"`
	}
)

// ToolName is the SARIF driver's name: code scanning groups the findings under it.
const ToolName = "nexios-policy"

// WriteSARIF writes the findings as a SARIF 2.1.0 log. Each result's logical location is the
// resource's URN; its physical location is the stack file (stackFile, relative to the repository's
// root), the configuration the resource follows from, since code scanning places every result in a
// file.
func WriteSARIF(w io.Writer, stackFile string, findings []Finding) error {
	rules := Rules()
	index := map[string]int{}
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: ToolName, Rules: make([]sarifRule, len(rules))}}, Results: []sarifResult{}}
	for i, r := range rules {
		index[r.ID] = i
		run.Tool.Driver.Rules[i] = sarifRule{ID: r.ID, ShortDescription: sarifText{r.Summary}, DefaultConfiguration: sarifDefaults{r.Severity}}
	}
	for _, f := range findings {
		run.Results = append(run.Results, sarifResult{
			RuleID: f.Rule.ID, RuleIndex: index[f.Rule.ID], Level: f.Severity, Message: sarifText{f.Message},
			Locations: []sarifLocation{{
				PhysicalLocation: sarifPhysical{sarifArtifact{stackFile}},
				LogicalLocations: []sarifLogical{{FullyQualifiedName: f.URN, Kind: "resource"}},
			}},
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}); err != nil {
		return fmt.Errorf("writing the SARIF report: %w", err)
	}
	return nil
}
