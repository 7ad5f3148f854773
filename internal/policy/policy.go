// Package policy checks the resources a stack's program registers against the project's policies,
// in Go, on the inputs the engine resolved: no policy pack, no Node or Python, no cloud service.
// `deploy preview` runs every policy on every preview (cmd/deploy/policy.go); the findings print
// for people and, with --policy-report, as SARIF for code scanning.
//
// A value a preview does not know yet (an output of a resource still to be created) is never a
// violation, and secret values never reach a message: the engine's events carry them blinded.
package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/nexios-labs/nexios-k8s/components/logging"
	"github.com/nexios-labs/nexios-k8s/internal/props"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// Severity says what a finding does to the run: an error fails it, a warning is printed only.
type Severity string

// The severities, named as SARIF's levels.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Resource is one resource the program registers, with its inputs as the provider checked them
// (Kubernetes auto-names included).
type Resource struct {
	// URN is the resource's Pulumi URN; findings point at it.
	URN string
	// Type is the Pulumi type token, e.g. kubernetes:apps/v1:Deployment.
	Type string
	// Name is the resource's Pulumi name, the last part of its URN.
	Name   string
	Inputs props.Map
}

// label names the resource for people: its kind and Pulumi name.
func (r Resource) label() string {
	kind := r.Type[strings.LastIndex(r.Type, ":")+1:]
	return kind + " " + r.Name
}

// namespace is the resource's namespace, "" when absent or not known yet.
func (r Resource) namespace() string { return r.Inputs.String("metadata.namespace") }

// Stack is what the policies need to know of the stack besides its resources.
type Stack struct {
	// Prod says the stack uses the prod profile: images must be pinned, Prometheus and Elasticsearch
	// must keep their data on persistent volumes.
	Prod bool
	// PrivilegedNamespaces are the documented exceptions to `restricted`: Fluent Bit's
	// `<logging.namespace>-agents`, when logging is on.
	PrivilegedNamespaces []string
}

// StackOf derives what the policies need from a stack's validated configuration.
func StackOf(cfg *stacks.Config) Stack {
	s := Stack{Prod: cfg.Environment == stacks.Prod}
	if cfg.Logging.Enabled {
		s.PrivilegedNamespaces = []string{logging.AgentsNamespace(cfg.Logging.Namespace)}
	}
	return s
}

// Rule describes one policy.
type Rule struct {
	// ID is stable: SARIF results and suppressions refer to it.
	ID string
	// Summary says what the policy requires, in one sentence.
	Summary string
	// Severity is the default severity of its findings.
	Severity Severity
}

// Finding is one violation of one policy by one resource.
type Finding struct {
	Rule     Rule
	Severity Severity
	URN      string
	// Message names the resource, what is wrong and the fix.
	Message string
}

// policy is a rule and its check over every resource of the stack.
type policy struct {
	Rule
	check func(s Stack, all resources, report func(r Resource, severity Severity, format string, args ...any))
}

// Rules lists every policy, in the order their findings print.
func Rules() []Rule {
	out := make([]Rule, len(policies))
	for i, p := range policies {
		out[i] = p.Rule
	}
	return out
}

// Check runs every policy over the resources and returns the findings, by policy and then by URN.
func Check(s Stack, rs []Resource) []Finding {
	var out []Finding
	all := resources(rs)
	for _, p := range policies {
		var found []Finding
		p.check(s, all, func(r Resource, severity Severity, format string, args ...any) {
			found = append(found, Finding{Rule: p.Rule, Severity: severity, URN: r.URN, Message: r.label() + ": " + fmt.Sprintf(format, args...)})
		})
		slices.SortFunc(found, func(a, b Finding) int { return cmp.Or(cmp.Compare(a.URN, b.URN), cmp.Compare(a.Message, b.Message)) })
		out = append(out, found...)
	}
	return out
}

// Count returns how many findings have each severity.
func Count(findings []Finding) (errors, warnings int) {
	for _, f := range findings {
		if f.Severity == Error {
			errors++
		} else {
			warnings++
		}
	}
	return errors, warnings
}

// resources are the stack's resources, with the lookups the policies share.
type resources []Resource

// ofType returns the resources of the given type tokens.
func (all resources) ofType(types ...string) []Resource {
	var out []Resource
	for _, r := range all {
		if slices.Contains(types, r.Type) {
			out = append(out, r)
		}
	}
	return out
}
