package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"

	"github.com/nexios-labs/nexios-k8s/stacks"
)

func (d *deployer) runCommand(ctx context.Context) error {
	switch d.opts.command {
	case "preview":
		return d.preview(ctx)
	case "up":
		outputs, err := d.up(ctx)
		if err != nil || !d.opts.verify {
			return err
		}
		return d.verify(ctx, outputs)
	case "refresh":
		return d.refresh(ctx)
	case "destroy":
		return d.destroy(ctx)
	case "outputs":
		return d.outputs(ctx)
	case "render":
		return d.render(ctx)
	case "recover":
		return d.recover(ctx)
	case "cancel":
		return d.cancel(ctx)
	case "backup":
		return d.backup(ctx)
	case "restore":
		return d.restore(ctx)
	case "drift":
		return d.drift(ctx)
	case "rollback":
		return d.rollback(ctx)
	}
	return invalid(fmt.Errorf("unknown command %q", d.opts.command))
}

// changeSummary counts what a run changes by operation and by resource type: one count per resource,
// whatever number of steps the engine takes for it.
type changeSummary struct {
	Stack string `json:"stack"`
	// Operation is what produced the summary: Preview or Drift.
	Operation string                    `json:"operation"`
	Totals    map[string]int            `json:"totals"`
	ByType    map[string]map[string]int `json:"byType"`
	// Changed counts every resource whose operation is neither "same" nor "read".
	Changed int `json:"changed"`
	// Drifted counts the resources a refresh before the plan found changed in the cluster.
	Drifted int `json:"drifted,omitempty"`
	// OutputsChanged tells that the stack's exports differ from the state's (a program that exports
	// something new, say), which only an update records.
	OutputsChanged bool `json:"outputsChanged,omitempty"`
	// Resources holds every resource's step, in the engine's order.
	Resources []resourceChange `json:"resources"`
	Diff      string           `json:"diff,omitempty"`
}

// replacementParts are the steps the engine adds around a "replace" step for the same resource
// (create the new one, delete or forget the old one). The engine's own tally leaves them out (they
// are not logical steps); counting them would make one replace three changes.
var replacementParts = map[apitype.OpType]bool{
	apitype.OpCreateReplacement:    true,
	apitype.OpDeleteReplaced:       true,
	apitype.OpDiscardReplaced:      true,
	apitype.OpReadReplacement:      true,
	apitype.OpImportReplacement:    true,
	apitype.OpRemovePendingReplace: true,
}

// collect reads engine events until the run closes the channel.
//
// A refresh announces every resource with a "refresh" step before reading it; the outcome comes in the
// resource's outputs event, whose op the engine rewrites to "same", "update" or "delete" (the step's
// result: its diff of the read state against the recorded one). So a refresh step counts by that
// outcome, never as a change by itself. Component resources get no outputs event: the engine never
// reads them and they cannot drift, so they count as "same". A failed read counts as nothing; the run
// reports the failure.
//
// A run that refreshes and then plans (a preview or an update with refresh) reports its plan, the
// steps that follow the refresh; what the refresh found is counted apart, as Drifted.
func collect(stack string, ch <-chan events.EngineEvent, done chan<- changeSummary) {
	planned, refreshed := newChangeSummary(stack), newChangeSummary(stack)
	refreshing := map[string]string{} // URN -> type, for refresh steps awaiting their outcome
	for e := range ch {
		switch {
		case e.ResourcePreEvent != nil:
			m := e.ResourcePreEvent.Metadata
			switch {
			case m.Type == stackType || replacementParts[m.Op]:
			case m.Op == apitype.OpRefresh:
				refreshing[m.URN] = m.Type
			default:
				planned.add(m)
			}
		case e.ResOutputsEvent != nil:
			m := e.ResOutputsEvent.Metadata
			if m.Type == stackType && m.Op != apitype.OpRefresh && m.Old != nil && m.New != nil {
				// The stack's last outputs event holds the exports the run registers.
				planned.OutputsChanged = !reflect.DeepEqual(m.Old.Outputs, m.New.Outputs)
			}
			if _, ok := refreshing[m.URN]; ok {
				delete(refreshing, m.URN)
				m.Op = refreshOutcome(m)
				refreshed.add(m)
			}
		case e.ResOpFailedEvent != nil:
			delete(refreshing, e.ResOpFailedEvent.Metadata.URN)
		}
	}
	for _, typ := range refreshing {
		refreshed.count(typ, apitype.OpSame)
	}
	if len(planned.Resources) == 0 {
		done <- refreshed
		return
	}
	planned.Drifted = refreshed.Changed
	done <- planned
}

// refreshOutcome is a refresh step's result. A refresh run's outputs event carries it as its op; a
// refresh inside a preview keeps the op "refresh" and tells its result by its diff alone (a resource
// found deleted shows no diff there: the plan that follows creates it again).
func refreshOutcome(m apitype.StepEventMetadata) apitype.OpType {
	switch {
	case m.Op != apitype.OpRefresh:
		return m.Op
	case len(m.Diffs) > 0 || len(m.DetailedDiff) > 0:
		return apitype.OpUpdate
	default:
		return apitype.OpSame
	}
}

func newChangeSummary(stack string) changeSummary {
	return changeSummary{Stack: stack, Totals: map[string]int{}, ByType: map[string]map[string]int{}, Resources: []resourceChange{}}
}

// add counts a resource's step and records it.
func (s *changeSummary) add(m apitype.StepEventMetadata) {
	s.count(m.Type, m.Op)
	s.Resources = append(s.Resources, newResourceChange(m))
}

// stackType is the root resource of every stack, which the summary leaves out.
const stackType = "pulumi:pulumi:Stack"

func (s *changeSummary) count(typ string, op apitype.OpType) {
	if s.ByType[typ] == nil {
		s.ByType[typ] = map[string]int{}
	}
	s.ByType[typ][string(op)]++
	s.Totals[string(op)]++
	if op != apitype.OpSame && op != apitype.OpRead {
		s.Changed++
	}
}

// changedResources are the resources whose operation is neither "same" nor "read".
func (s changeSummary) changedResources() []resourceChange {
	var out []resourceChange
	for _, c := range s.Resources {
		if c.Operation != string(apitype.OpSame) && c.Operation != string(apitype.OpRead) {
			out = append(out, c)
		}
	}
	return out
}

// destructiveSteps are the steps up refuses without --allow-destructive.
func (s changeSummary) destructiveSteps() []resourceChange {
	var out []resourceChange
	for _, c := range s.Resources {
		if destructive(c.Risk) {
			out = append(out, c)
		}
	}
	return out
}

// lines renders each changed resource with its risk and changed properties, one line per resource type
// that changes, then the totals.
func (s changeSummary) lines() []string {
	var out []string
	for _, c := range s.changedResources() {
		out = append(out, c.lines()...)
	}
	if len(out) > 0 {
		out = append(out, "")
	}
	for _, typ := range slices.Sorted(maps.Keys(s.ByType)) {
		var parts []string
		for _, op := range slices.Sorted(maps.Keys(s.ByType[typ])) {
			if op != "same" {
				parts = append(parts, fmt.Sprintf("%s %d", op, s.ByType[typ][op]))
			}
		}
		if len(parts) > 0 {
			out = append(out, fmt.Sprintf("%-55s %s", typ, strings.Join(parts, ", ")))
		}
	}
	var totals []string
	for _, op := range slices.Sorted(maps.Keys(s.Totals)) {
		totals = append(totals, fmt.Sprintf("%s %d", op, s.Totals[op]))
	}
	out = append(out, fmt.Sprintf("stack %s: %d to change (%s)", s.Stack, s.Changed, strings.Join(totals, ", ")))
	return out
}

// lines renders one resource's step: operation, type, name and risk, then each risk's reason and each
// changed property.
func (c resourceChange) lines() []string {
	out := []string{fmt.Sprintf("  %-8s %s %s  [%s]", c.Operation, c.Type, c.name(), c.Risk)}
	for _, r := range c.Risks {
		out = append(out, fmt.Sprintf("      %s: %s", r.Kind, r.Reason))
	}
	for _, pc := range c.Changes {
		line := "      " + pc.text()
		if pc.ForcesReplace {
			line += " (forces replace)"
		}
		out = append(out, line)
	}
	return out
}

// markdown renders the summary for a pull-request comment or a CI job summary: every changed resource
// with its risk and changed properties, then the counts by type.
func (s changeSummary) markdown() string {
	var b strings.Builder
	counted := "to change"
	if s.Operation == "Drift" {
		counted = "drifted"
	}
	fmt.Fprintf(&b, "### %s of stack `%s`: %d %s\n\n", s.Operation, s.Stack, s.Changed, counted)
	if changed := s.changedResources(); len(changed) > 0 {
		b.WriteString("| operation | resource | risk | changed properties |\n|---|---|---|---|\n")
		for _, c := range changed {
			risk := c.Risk
			for _, r := range c.Risks {
				risk += "<br>" + r.Reason
			}
			var props []string
			for _, pc := range c.Changes {
				text := "`" + pc.Path + "`" + strings.TrimPrefix(pc.text(), pc.Path)
				if pc.ForcesReplace {
					text += " **(forces replace)**"
				}
				props = append(props, text)
			}
			fmt.Fprintf(&b, "| %s | `%s` `%s` | %s | %s |\n", c.Operation, c.Type, c.name(), markdownCell(risk), markdownCell(strings.Join(props, "<br>")))
		}
		b.WriteString("\n")
	}
	b.WriteString("| resource type | changes |\n|---|---|\n")
	for _, typ := range slices.Sorted(maps.Keys(s.ByType)) {
		var parts []string
		for _, op := range slices.Sorted(maps.Keys(s.ByType[typ])) {
			parts = append(parts, fmt.Sprintf("%s %d", op, s.ByType[typ][op]))
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", typ, strings.Join(parts, ", "))
	}
	if s.Diff != "" {
		fmt.Fprintf(&b, "\n<details><summary>Full diff</summary>\n\n```diff\n%s\n```\n</details>\n", strings.TrimSpace(s.Diff))
	}
	return b.String()
}

// markdownCell keeps a table cell on its row: pipes escaped, newlines as breaks.
func markdownCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", "<br>").Replace(s)
}

// progress is where Pulumi's progress goes: stderr when stdout carries JSON.
func (d *deployer) progress() io.Writer {
	if d.opts.json {
		return d.stderr
	}
	return d.stdout
}

func (d *deployer) preview(ctx context.Context) error {
	if d.usesLocalCluster() {
		// A preview waits for nothing, so it runs; the up it previews would be refused.
		if limits := localClusterLimits(d.config, d.opts.stack); len(limits) > 0 {
			fmt.Fprintf(d.stderr, "note: %v\n", localClusterError(d.opts.stack, limits))
		}
	}
	if err := d.ensureLocalCluster(ctx); err != nil {
		return err
	}
	if err := d.checkSharedCluster(ctx, nil); err != nil {
		return err
	}
	ch := make(chan events.EngineEvent)
	done := make(chan changeSummary, 1)
	go collect(d.opts.stack, ch, done)
	policyCh, checked := policyEvents()
	var diff bytes.Buffer
	opts := []optpreview.Option{optpreview.EventStreams(ch, policyCh), optpreview.ProgressStreams(d.progress(), &diff), optpreview.ErrorProgressStreams(d.stderr)}
	if d.opts.diff {
		opts = append(opts, optpreview.Diff())
	}
	if _, err := d.stack.Preview(ctx, opts...); err != nil {
		return fmt.Errorf("preview of stack %q failed: %w", d.opts.stack, err)
	}
	summary := <-done
	summary.Operation = "Preview"
	if d.opts.diff {
		summary.Diff = diff.String()
	}
	if err := d.writeSummary(summary); err != nil {
		return err
	}
	if err := d.checkPolicies(<-checked); err != nil {
		return err
	}
	if d.opts.expectNoChanges && summary.Changed > 0 {
		return changesFound(summary.Changed)
	}
	return nil
}

func (d *deployer) writeSummary(s changeSummary) error {
	if d.opts.json {
		enc := json.NewEncoder(d.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			return fmt.Errorf("writing the summary: %w", err)
		}
	} else {
		fmt.Fprintln(d.stdout)
		for _, line := range s.lines() {
			fmt.Fprintln(d.stdout, line)
		}
	}
	if d.opts.summaryFile == "" {
		return nil
	}
	f, err := os.OpenFile(d.opts.summaryFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("opening the summary file: %w", err)
	}
	defer f.Close()
	if _, err := io.WriteString(f, s.markdown()); err != nil {
		return fmt.Errorf("writing the summary file: %w", err)
	}
	return nil
}

// up updates the stack through the gate below and returns its outputs.
func (d *deployer) up(ctx context.Context) (auto.OutputMap, error) {
	if d.usesLocalCluster() {
		if limits := localClusterLimits(d.config, d.opts.stack); len(limits) > 0 {
			return nil, invalid(localClusterError(d.opts.stack, limits))
		}
	}
	deployment, empty, err := d.requireRecovered(ctx)
	if err != nil {
		return nil, err
	}
	if err := d.ensureLocalCluster(ctx); err != nil {
		return nil, err
	}
	if err := d.checkSharedCluster(ctx, deployment); err != nil {
		return nil, err
	}
	var outputs auto.OutputMap
	switch {
	case empty:
		// No preview on a first up: with no resource in the state there is nothing to refresh, and a
		// plan that can only create has no step to gate (nothing replaced or deleted, no provider
		// replaced, no protection lowered).
		fmt.Fprintf(d.stdout, "stack %s holds no resources yet: no refresh, and a plan of creates only has no risk to gate\n", d.opts.stack)
		if outputs, err = d.update(ctx, false); err != nil {
			return nil, err
		}
	default:
		// The plan is judged before anything in the cluster changes. It is made after a refresh in
		// the same engine run, so it repairs what changed behind the program's back; the update
		// refreshes again, so it acts on the cluster as it is then.
		plan, err := d.checkPlan(ctx)
		if err != nil {
			return nil, err
		}
		if plan.Changed == 0 && plan.Drifted == 0 && !plan.OutputsChanged {
			// The cluster matches the state and the program has nothing to change, its exports
			// included: an update would only repeat the refresh and the plan. The outputs are the
			// state's, exported before the plan, which changed nothing.
			if err := d.refuseIfLocked(); err != nil {
				return nil, err
			}
			fmt.Fprintf(d.stdout, "stack %s: the cluster matches the state and nothing is to change: no update run\n", d.opts.stack)
			if outputs, err = stateOutputs(deployment); err != nil {
				return nil, fmt.Errorf("reading the outputs of stack %q: %w", d.opts.stack, err)
			}
			break
		}
		if outputs, err = d.update(ctx, true); err != nil {
			return nil, err
		}
	}
	if d.localCluster != nil {
		// What ran for real and what kwok only simulated is what a user must know to trust a
		// local deployment.
		table, err := d.localCluster.Workloads(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the local cluster's workloads: %w", err)
		}
		fmt.Fprintf(d.stdout, "\n%s", table)
	}
	fmt.Fprintf(d.stdout, "\nOutputs of stack %s:\n", d.opts.stack)
	return outputs, printOutputs(d.stdout, outputs, false, false)
}

// summarySecrets is whether the Automation API's `stack history` run at the end of an up, a refresh or
// a destroy decrypts the configuration it reports: that run only fills the result's Summary, which
// deploy never reads, and decrypting a passphrase stack's secrets derives its key first (a million
// PBKDF2 rounds, a third of that CLI run's time).
const summarySecrets = false

// update runs the engine's update, refreshing first when asked, and returns the stack's outputs.
func (d *deployer) update(ctx context.Context, refresh bool) (auto.OutputMap, error) {
	ch := make(chan events.EngineEvent)
	creates := watchCreates(ch)
	opts := []optup.Option{optup.EventStreams(ch), optup.ProgressStreams(d.stdout), optup.ErrorProgressStreams(d.stderr), optup.ShowSecrets(summarySecrets)}
	if refresh {
		opts = append(opts, optup.Refresh())
	}
	res, err := d.stack.Up(ctx, opts...)
	if err != nil {
		err = fmt.Errorf("update of stack %q failed: %w", d.opts.stack, err)
		if ctx.Err() != nil {
			// Cancelled: the creates in flight may have left objects the state knows nothing of (see
			// cancelled.go). The state is written with a context of its own: ctx is done.
			return nil, errors.Join(err, d.adoptCancelledCreates(context.WithoutCancel(ctx), creates.unfinished(5*time.Second)))
		}
		return nil, err
	}
	return res.Outputs, nil
}

// checkPlan refreshes and previews the update in one engine run (the state is left as it is), prints
// every step it would take with its risk, and refuses a plan with a destructive step (data loss, the
// provider replaced) unless --allow-destructive says it is meant; a prod stack also needs --confirm
// with its name. It returns the plan.
func (d *deployer) checkPlan(ctx context.Context) (changeSummary, error) {
	ch := make(chan events.EngineEvent)
	done := make(chan changeSummary, 1)
	go collect(d.opts.stack, ch, done)
	// The preview's progress repeats the plan printed below; it is shown only when the preview fails,
	// since the engine's diagnostics are in it.
	var progress bytes.Buffer
	if _, err := d.stack.Preview(ctx, optpreview.Refresh(), optpreview.EventStreams(ch), optpreview.ProgressStreams(&progress), optpreview.ErrorProgressStreams(d.stderr)); err != nil {
		fmt.Fprint(d.stdout, progress.String())
		return changeSummary{}, fmt.Errorf("preview of stack %q before the update failed: %w", d.opts.stack, err)
	}
	plan := <-done
	fmt.Fprintf(d.stdout, "\nPlan of stack %s:\n", d.opts.stack)
	if plan.Drifted > 0 {
		fmt.Fprintf(d.stdout, "the refresh found %d resource(s) changed in the cluster behind the program's back; the plan acts on the cluster as it is\n", plan.Drifted)
	}
	for _, line := range plan.lines() {
		fmt.Fprintln(d.stdout, line)
	}
	risky := plan.destructiveSteps()
	if len(risky) == 0 {
		return plan, nil
	}
	var steps []string
	for _, c := range risky {
		for _, r := range c.Risks {
			if destructive(r.Kind) {
				steps = append(steps, fmt.Sprintf("  %s %s %s: %s: %s", c.Operation, c.Type, c.name(), r.Kind, r.Reason))
			}
		}
	}
	needed := "--allow-destructive"
	if d.config.Environment == stacks.Prod {
		needed += " --confirm " + d.opts.stack
	}
	if !d.opts.allowDestructive || (d.config.Environment == stacks.Prod && d.opts.confirm != d.opts.stack) {
		return changeSummary{}, invalid(fmt.Errorf("stack %q: the plan has %d destructive step(s); nothing in the cluster was changed:\n%s\nif that is really meant, run again with %s",
			d.opts.stack, len(risky), strings.Join(steps, "\n"), needed))
	}
	fmt.Fprintf(d.stderr, "deploy: going ahead with %d destructive step(s), as --allow-destructive asks:\n%s\n", len(risky), strings.Join(steps, "\n"))
	return plan, nil
}

// drift previews a refresh: what changed in the cluster behind the program's back, per resource and
// property, in the preview's shape. It changes nothing, not even the state.
func (d *deployer) drift(ctx context.Context) error {
	if err := d.ensureLocalCluster(ctx); err != nil {
		return err
	}
	// The CLI takes PULUMI_SKIP_CONFIRMATIONS (set for every run: no one answers prompts) as --yes,
	// which it refuses next to the --preview-only of a refresh preview.
	d.stack.Workspace().SetEnvVar("PULUMI_SKIP_CONFIRMATIONS", "false")
	ch := make(chan events.EngineEvent)
	done := make(chan changeSummary, 1)
	go collect(d.opts.stack, ch, done)
	if _, err := d.stack.PreviewRefresh(ctx, optrefresh.EventStreams(ch), optrefresh.ProgressStreams(d.progress()), optrefresh.ErrorProgressStreams(d.stderr)); err != nil {
		return fmt.Errorf("refresh preview of stack %q failed: %w", d.opts.stack, err)
	}
	summary := <-done
	summary.Operation = "Drift"
	if err := d.writeSummary(summary); err != nil {
		return err
	}
	if summary.Changed > 0 {
		return driftFound(summary.Changed)
	}
	return nil
}

func (d *deployer) refresh(ctx context.Context) error {
	if err := d.ensureLocalCluster(ctx); err != nil {
		return err
	}
	summary, err := d.runRefresh(ctx)
	if err != nil {
		return err
	}
	if d.opts.expectNoChanges && summary.Changed > 0 {
		return changesFound(summary.Changed)
	}
	return nil
}

// runRefresh refreshes the stack, streaming progress, and prints the summary of what it found.
func (d *deployer) runRefresh(ctx context.Context) (changeSummary, error) {
	ch := make(chan events.EngineEvent)
	done := make(chan changeSummary, 1)
	go collect(d.opts.stack, ch, done)
	if _, err := d.stack.Refresh(ctx, optrefresh.EventStreams(ch), optrefresh.ProgressStreams(d.stdout), optrefresh.ErrorProgressStreams(d.stderr), optrefresh.ShowSecrets(summarySecrets)); err != nil {
		return changeSummary{}, fmt.Errorf("refresh of stack %q failed: %w", d.opts.stack, err)
	}
	summary := <-done
	for _, line := range summary.lines() {
		fmt.Fprintln(d.stdout, line)
	}
	return summary, nil
}

func (d *deployer) destroy(ctx context.Context) error {
	if d.config.Environment == stacks.Prod && d.opts.confirm != d.opts.stack {
		return invalid(fmt.Errorf("stack %q is a prod stack: destroying it deletes the production app; "+
			"if that is really meant, run again with --confirm %s", d.opts.stack, d.opts.stack))
	}
	deployment, _, err := d.requireRecovered(ctx)
	if err != nil {
		return err
	}
	if err := d.ensureLocalCluster(ctx); err != nil {
		return err
	}
	if err := d.checkDestroyOwnsItsObjects(ctx, deployment); err != nil {
		return err
	}
	if _, err := d.stack.Destroy(ctx, optdestroy.ProgressStreams(d.stdout), optdestroy.ErrorProgressStreams(d.stderr), optdestroy.ShowSecrets(summarySecrets)); err != nil {
		return fmt.Errorf("destroy of stack %q failed: %w", d.opts.stack, err)
	}
	return nil
}

func (d *deployer) outputs(ctx context.Context) error {
	state, err := d.exportState(ctx)
	if err != nil {
		return fmt.Errorf("exporting the state of stack %q: %w", d.opts.stack, err)
	}
	outs, err := stateOutputs(state.Deployment)
	if err != nil {
		return fmt.Errorf("reading the outputs of stack %q: %w", d.opts.stack, err)
	}
	return printOutputs(d.stdout, outs, d.opts.json, d.opts.showSecrets)
}

func (d *deployer) cancel(ctx context.Context) error {
	if err := d.stack.Cancel(ctx); err != nil {
		return fmt.Errorf("cancelling the current run of stack %q: %w", d.opts.stack, err)
	}
	fmt.Fprintf(d.stdout, "stack %s: lock cleared; if a run was interrupted mid-way, `deploy recover %s` resolves what it left pending and refreshes the state\n", d.opts.stack, d.opts.stack)
	return nil
}

// secretMask replaces secret values unless --show-secrets.
const secretMask = "[secret]"

// stateOutputs reads the stack's outputs from an exported deployment, as `pulumi stack output`
// reports them: a secret (the engine's secret signature beside its plaintext, or its ciphertext when
// exported without --show-secrets, which leaves the value out) is flagged. It spares the two CLI runs
// auto.Stack.Outputs makes when the state is already at hand.
func stateOutputs(deployment json.RawMessage) (auto.OutputMap, error) {
	var state struct {
		Resources []struct {
			Type    string                     `json:"type"`
			Outputs map[string]json.RawMessage `json:"outputs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(deployment, &state); err != nil {
		return nil, fmt.Errorf("reading the exported state: %w", err)
	}
	outputs := auto.OutputMap{}
	for _, r := range state.Resources {
		if r.Type != stackType {
			continue
		}
		for key, raw := range r.Outputs {
			var wrapper map[string]json.RawMessage
			secret := json.Unmarshal(raw, &wrapper) == nil && string(wrapper[sig.Key]) == `"`+sig.Secret+`"`
			if secret {
				if _, encrypted := wrapper["ciphertext"]; encrypted {
					outputs[key] = auto.OutputValue{Secret: true}
					continue
				}
				var plaintext string
				if err := json.Unmarshal(wrapper["plaintext"], &plaintext); err != nil {
					return nil, fmt.Errorf("output %s: a secret exported with neither its plaintext nor its ciphertext", key)
				}
				raw = json.RawMessage(plaintext)
			}
			var value any
			if err := json.Unmarshal(raw, &value); err != nil {
				return nil, fmt.Errorf("output %s: %w", key, err)
			}
			outputs[key] = auto.OutputValue{Value: value, Secret: secret}
		}
	}
	return outputs, nil
}

func printOutputs(w io.Writer, outs auto.OutputMap, asJSON, showSecrets bool) error {
	values := make(map[string]any, len(outs))
	for key, out := range outs {
		if out.Secret && !showSecrets {
			values[key] = secretMask
			continue
		}
		values[key] = out.Value
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(values); err != nil {
			return fmt.Errorf("writing outputs: %w", err)
		}
		return nil
	}
	width := 0
	for key := range values {
		width = max(width, len(key))
	}
	for _, key := range slices.Sorted(maps.Keys(values)) {
		fmt.Fprintf(w, "  %-*s  %v\n", width, key, values[key])
	}
	return nil
}
