package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/nexios-labs/nexios-k8s/internal/staterepair"
)

// A cancelled up can orphan objects without leaving a trace in the state. Pulumi's graceful cancel
// tells the providers to cancel, and the Kubernetes provider aborts the requests it has in flight: a
// create whose request the API server had already carried out fails on the client's side, so the
// engine records neither the object nor a pending operation, and the object stays in the cluster with
// nothing to update or delete it (the e2e test of recover found one in most cancelled runs). So deploy
// watches the run's events, and when the run was cancelled it adopts every create that did not
// succeed into the state, as recover adopts a killed run's pending creates: under its object's ID,
// marked as not yet read back, for `deploy recover` to read from the cluster (an object the create
// never made then leaves the state). The pending creates cannot simply be recorded as such: `pulumi
// stack import` drops pending operations. The state edits themselves are package staterepair's.

// createWatch keeps, from an up's engine events, the creates that started and have not succeeded.
type createWatch struct {
	mu      sync.Mutex
	started map[string]apitype.StepEventStateMetadata
	failed  []apitype.StepEventStateMetadata
	closed  chan struct{}
}

// watchCreates follows ch until the run closes it.
func watchCreates(ch <-chan events.EngineEvent) *createWatch {
	w := &createWatch{started: map[string]apitype.StepEventStateMetadata{}, closed: make(chan struct{})}
	go func() {
		defer close(w.closed)
		for e := range ch {
			w.observe(e)
		}
	}()
	return w
}

func (w *createWatch) observe(e events.EngineEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case e.ResourcePreEvent != nil && !e.ResourcePreEvent.Planning:
		m := e.ResourcePreEvent.Metadata
		if (m.Op == apitype.OpCreate || m.Op == apitype.OpCreateReplacement) && m.New != nil && m.New.Custom {
			w.started[m.URN] = *m.New
		}
	case e.ResOutputsEvent != nil:
		delete(w.started, e.ResOutputsEvent.Metadata.URN)
	case e.ResOpFailedEvent != nil:
		urn := e.ResOpFailedEvent.Metadata.URN
		if m, ok := w.started[urn]; ok {
			w.failed = append(w.failed, m)
			delete(w.started, urn)
		}
	}
}

// unfinished returns the creates that failed or never reported an end, by URN. The run closes the
// event stream when the CLI ends normally; a CLI that was killed never does, hence the bound.
func (w *createWatch) unfinished(wait time.Duration) []apitype.StepEventStateMetadata {
	select {
	case <-w.closed:
	case <-time.After(wait):
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := slices.Clone(w.failed)
	for _, m := range w.started {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b apitype.StepEventStateMetadata) int { return strings.Compare(a.URN, b.URN) })
	return out
}

// adoptCancelledCreates adopts into the state the creates a cancelled up left unfinished.
func (d *deployer) adoptCancelledCreates(ctx context.Context, creates []apitype.StepEventStateMetadata) error {
	if len(creates) == 0 {
		return nil
	}
	state, err := d.stack.Export(ctx)
	if err != nil {
		return fmt.Errorf("exporting the state of stack %q to adopt the creates the cancel interrupted: %w", d.opts.stack, err)
	}
	withPending, added, err := staterepair.AddPendingCreates(state.Deployment, creates)
	if err != nil {
		return fmt.Errorf("stack %q: adopting the creates the cancel interrupted: %w", d.opts.stack, err)
	}
	if len(added) == 0 {
		return nil
	}
	edited, resolutions, err := staterepair.ResolvePending(withPending)
	if err != nil {
		return fmt.Errorf("stack %q: adopting the creates the cancel interrupted: %w", d.opts.stack, err)
	}
	state.Deployment = edited
	if err := d.stack.Import(ctx, state); err != nil {
		return fmt.Errorf("stack %q: adopting the creates the cancel interrupted (%s): %w; objects they made may be "+
			"untracked", d.opts.stack, strings.Join(added, ", "), err)
	}
	fmt.Fprintf(d.stderr, "deploy: the cancel interrupted %d create(s), whose objects may exist although the engine recorded "+
		"nothing of them; `deploy recover %s` reads them back from the cluster:\n", len(added), d.opts.stack)
	for _, r := range resolutions {
		fmt.Fprintf(d.stderr, "  %s\n", r)
	}
	return nil
}
