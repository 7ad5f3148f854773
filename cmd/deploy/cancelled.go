package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"
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
// stack import` drops pending operations.

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
	withPending, added, err := addPendingCreates(state.Deployment, creates)
	if err != nil {
		return fmt.Errorf("stack %q: adopting the creates the cancel interrupted: %w", d.opts.stack, err)
	}
	if len(added) == 0 {
		return nil
	}
	edited, resolutions, err := resolvePending(withPending)
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

// addPendingCreates returns the exported deployment with a pending create for each Kubernetes object
// of creates that the state neither tracks under that object's ID nor already has pending, and the
// URNs it added. The recorded inputs are the create's own, as the provider's check made them, so that
// the refresh after the adoption reads back the object's fields in their shape and the next up finds
// nothing to change: with the object's identity alone, its autonamed annotation is missing (the next
// check would name it anew) and every field is new, so an object whose spec forces a replacement (a
// PersistentVolumeClaim's) was planned as a replacement, and refused as a data loss. The event stream
// blinds secret values; each is recorded as a secret placeholder, which keeps the path secret: the
// refresh then stores the live value there, and the live Secret's data, encrypted (see
// secretPlaceholders).
func addPendingCreates(deployment json.RawMessage, creates []apitype.StepEventStateMetadata) (json.RawMessage, []string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(deployment, &top); err != nil {
		return nil, nil, fmt.Errorf("reading the exported state: %w", err)
	}
	if top == nil {
		return nil, nil, fmt.Errorf("reading the exported state: it holds no deployment")
	}
	var ops []json.RawMessage
	if err := unmarshalOptional(top["pending_operations"], &ops); err != nil {
		return nil, nil, fmt.Errorf("reading the state's pending operations: %w", err)
	}
	pending := map[string]bool{}
	for i, raw := range ops {
		var op struct {
			Resource resourceHead `json:"resource"`
		}
		if err := json.Unmarshal(raw, &op); err != nil {
			return nil, nil, fmt.Errorf("reading pending operation #%d: %w", i, err)
		}
		pending[op.Resource.URN] = true
	}
	var resources []resourceHead
	if err := unmarshalOptional(top["resources"], &resources); err != nil {
		return nil, nil, fmt.Errorf("reading the state's resources: %w", err)
	}
	tracked := map[string]bool{}
	for _, r := range resources {
		if !r.Delete {
			tracked[r.URN+" "+r.ID] = true
		}
	}

	var added []string
	for _, c := range creates {
		if unadoptable(c.Custom, c.Type) != "" || pending[c.URN] {
			continue
		}
		metadata, _ := c.Inputs["metadata"].(map[string]any)
		identity := objectMetadata{Name: metadata["name"], Namespace: metadata["namespace"]}
		id, _ := identity.id()
		if id == "" || tracked[c.URN+" "+id] {
			continue
		}
		resource := map[string]any{"urn": c.URN, "custom": true, "type": c.Type, "inputs": secretPlaceholders(c.Inputs)}
		if c.Parent != "" {
			resource["parent"] = c.Parent
		}
		if c.Provider != "" {
			resource["provider"] = c.Provider
		}
		op, err := json.Marshal(map[string]any{"type": "creating", "resource": resource})
		if err != nil {
			return nil, nil, fmt.Errorf("recording the create of %s: %w", c.URN, err)
		}
		ops = append(ops, op)
		pending[c.URN] = true
		added = append(added, c.URN)
	}
	if len(added) == 0 {
		return deployment, nil, nil
	}
	var err error
	if top["pending_operations"], err = json.Marshal(ops); err != nil {
		return nil, nil, fmt.Errorf("writing the state's pending operations: %w", err)
	}
	out, err := json.Marshal(top)
	if err != nil {
		return nil, nil, fmt.Errorf("writing the state: %w", err)
	}
	return out, added, nil
}

// secretPlaceholder stands for a value the event stream blinded. Its plaintext never reaches the
// cluster: the refresh that reads an adopted object back replaces it with the live value.
var secretPlaceholder = map[string]any{sig.Key: sig.Secret, "plaintext": `"[secret]"`}

// secretPlaceholders returns v with every blinded secret (the signature and a "[secret]" ciphertext no
// key decrypts) replaced by secretPlaceholder, which `pulumi stack import` encrypts.
func secretPlaceholders(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v[sig.Key] == sig.Secret {
			return secretPlaceholder
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = secretPlaceholders(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = secretPlaceholders(e)
		}
		return out
	}
	return v
}
