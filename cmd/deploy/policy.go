package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"

	"github.com/nexios-labs/nexios-k8s/internal/policy"
)

// policyError reports error-severity policy findings: exit 4.
type policyError struct {
	stack  string
	errors int
}

func (e policyError) Error() string {
	return fmt.Sprintf("stack %s breaks %d error-severity polic%s (listed above, each with its fix); nothing was changed", e.stack, e.errors, plural(e.errors, "y", "ies"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// policyEvents returns a channel for a preview's own copy of the engine events and, once the preview
// closes it, the resources its steps registered, for checkPolicies.
func policyEvents() (chan<- events.EngineEvent, <-chan []policy.Resource) {
	ch := make(chan events.EngineEvent)
	done := make(chan []policy.Resource, 1)
	go func() {
		byURN := map[string]policy.Resource{}
		var order []string
		for e := range ch {
			if e.ResourcePreEvent == nil {
				continue
			}
			r, ok := policy.FromStep(e.ResourcePreEvent.Metadata)
			if !ok {
				continue
			}
			// A replacement steps through the same URN more than once: the last step's state counts.
			if _, seen := byURN[r.URN]; !seen {
				order = append(order, r.URN)
			}
			byURN[r.URN] = r
		}
		out := make([]policy.Resource, 0, len(order))
		for _, urn := range order {
			out = append(out, byURN[urn])
		}
		done <- out
	}()
	return ch, done
}

// checkPolicies runs every policy over the preview's resources: each finding prints on stderr with
// its severity and policy, then one line of totals; with --policy-report the findings are also
// written as SARIF. Warnings pass; any error-severity finding is a policyError.
func (d *deployer) checkPolicies(resources []policy.Resource) error {
	findings := policy.Check(policy.StackOf(d.config), resources)
	for _, f := range findings {
		fmt.Fprintf(d.stderr, "policy %s [%s]: %s\n", f.Severity, f.Rule.ID, f.Message)
	}
	errs, warnings := policy.Count(findings)
	fmt.Fprintf(d.stderr, "policies: %d checked over %d resources of stack %s: %d error%s, %d warning%s\n",
		len(policy.Rules()), len(resources), d.opts.stack, errs, plural(errs, "", "s"), warnings, plural(warnings, "", "s"))
	if d.opts.policyReport != "" {
		if err := writePolicyReport(d.opts.policyReport, "Pulumi."+d.opts.stack+".yaml", findings); err != nil {
			return err
		}
	}
	if errs > 0 {
		return policyError{stack: d.opts.stack, errors: errs}
	}
	return nil
}

func writePolicyReport(path, stackFile string, findings []policy.Finding) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--policy-report: creating %s: %w", path, err)
	}
	if err := policy.WriteSARIF(f, stackFile, findings); err != nil {
		f.Close()
		return fmt.Errorf("--policy-report %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--policy-report: writing %s: %w", path, err)
	}
	return nil
}
