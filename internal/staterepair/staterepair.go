// Package staterepair edits an exported Pulumi deployment (a `pulumi stack export`'s "deployment") so
// that what an interrupted run made in the cluster is not lost to the state: deploy records the creates
// a cancelled up left unfinished as pending creates (AddPendingCreates), and adopts pending creates of
// Kubernetes objects under their objects' IDs (ResolvePending), for a refresh to read them back from
// the cluster. It only edits JSON: exporting, importing and refreshing the stack are its caller's.
package staterepair

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"
)

// Leftovers counts, in an exported deployment, the pending operations and the resources adopted by
// recover or a cancelled up that no refresh has read back yet.
func Leftovers(deployment json.RawMessage) (pending, unread int, err error) {
	var state struct {
		Resources []struct {
			InitErrors []string `json:"initErrors"`
		} `json:"resources"`
		PendingOperations []json.RawMessage `json:"pending_operations"`
	}
	if err := json.Unmarshal(deployment, &state); err != nil {
		return 0, 0, fmt.Errorf("reading the exported state: %w", err)
	}
	for _, r := range state.Resources {
		if slices.Contains(r.InitErrors, AdoptedInitError) {
			unread++
		}
	}
	return len(state.PendingOperations), unread, nil
}

// Resolution says what ResolvePending did with one pending operation.
type Resolution struct {
	// Op is the operation's type ("creating", "updating"...), URN its resource's.
	Op, URN string
	// Adopted says whether the resource joined the state, under ID.
	Adopted bool
	ID      string
	// Note says why, in words for the person running recover.
	Note string
}

// String is the line recover prints for r.
func (r Resolution) String() string {
	if r.Adopted {
		return fmt.Sprintf("%s: interrupted while %s; adopted as %s (%s)", r.URN, r.Op, r.ID, r.Note)
	}
	return fmt.Sprintf("%s: interrupted while %s; dropped (%s)", r.URN, r.Op, r.Note)
}

// AdoptedInitError marks an adopted resource until a refresh reads it back (a refresh replaces a
// resource's initialization errors with the ones it finds, none for a healthy object). Until then
// deploy's up and destroy refuse to run: the Kubernetes provider cannot update an object it knows only
// by name.
const AdoptedInitError = "adopted by `deploy recover` from an interrupted create; not yet read back from the cluster"

// ResolvePending returns the exported deployment (a stack export's "deployment") with no pending
// operation left, and what became of each:
//
//   - a pending create of a Kubernetes object is adopted: it joins the resources under the object's ID
//     (namespace/name, or name for a cluster-scoped object, from its inputs, which carry the name even
//     when it was generated), so the refresh that follows either tracks the object or, when the create
//     never reached the cluster, drops it from the state for the next up to create. This matches what
//     up itself does with an object of that name (the provider's server-side apply adopts it). When the
//     resource was being replaced, the old one is marked for deletion, as the engine would have done;
//   - any other pending create is dropped: provider and component resources and random values exist
//     only in the state; a resource of another provider is named so it can be checked by hand;
//   - a pending update, delete, read or import is dropped: its resource is either still in the state,
//     where the refresh reads it, or was never there.
//
// Every other field of the deployment and its resources is kept as it was. Malformed input is an
// error, never a panic.
func ResolvePending(deployment json.RawMessage) (json.RawMessage, []Resolution, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(deployment, &top); err != nil {
		return nil, nil, fmt.Errorf("reading the exported state: %w", err)
	}
	if top == nil {
		return nil, nil, errors.New("reading the exported state: it holds no deployment")
	}
	var ops []struct {
		Resource json.RawMessage `json:"resource"`
		Type     string          `json:"type"`
	}
	if err := unmarshalOptional(top["pending_operations"], &ops); err != nil {
		return nil, nil, fmt.Errorf("reading the state's pending operations: %w", err)
	}
	if len(ops) == 0 {
		return deployment, nil, nil
	}
	var resources []json.RawMessage
	if err := unmarshalOptional(top["resources"], &resources); err != nil {
		return nil, nil, fmt.Errorf("reading the state's resources: %w", err)
	}
	heads := make([]resourceHead, len(resources))
	known := map[string]bool{}
	for i, raw := range resources {
		if err := json.Unmarshal(raw, &heads[i]); err != nil {
			return nil, nil, fmt.Errorf("reading the state's resource #%d: %w", i, err)
		}
		known[heads[i].URN] = true
	}

	var resolutions []Resolution
	for i, op := range ops {
		var head resourceHead
		if err := json.Unmarshal(op.Resource, &head); err != nil || head.URN == "" {
			return nil, nil, fmt.Errorf("reading pending operation #%d: no resource with a URN (%v)", i, err)
		}
		r := Resolution{Op: op.Type, URN: head.URN}
		if op.Type != "creating" {
			r.Note = "its resource is read back by the refresh"
			resolutions = append(resolutions, r)
			continue
		}
		id, why := adoptableID(head, op.Resource)
		if id == "" {
			r.Note = why
			resolutions = append(resolutions, r)
			continue
		}
		if missing := head.missingReferences(known); len(missing) > 0 {
			r.Note = fmt.Sprintf("it refers to %s, not in the state; if its object %s exists, delete it by hand", strings.Join(missing, ", "), id)
			resolutions = append(resolutions, r)
			continue
		}
		tracked, replaced := false, -1
		for j, other := range heads {
			switch {
			case other.URN != head.URN || other.Delete:
			case other.ID == id:
				tracked = true
			default:
				replaced = j
			}
		}
		if tracked {
			r.Note = "the state already tracks it"
			resolutions = append(resolutions, r)
			continue
		}
		adopted, err := adopt(op.Resource, id)
		if err != nil {
			return nil, nil, fmt.Errorf("adopting %s: %w", head.URN, err)
		}
		r.Adopted, r.ID, r.Note = true, id, "the refresh reads it from the cluster"
		if replaced >= 0 {
			if resources[replaced], err = setField(resources[replaced], "delete", true); err != nil {
				return nil, nil, fmt.Errorf("marking the replaced %s for deletion: %w", head.URN, err)
			}
			heads[replaced].Delete = true
			r.Note += "; the object it was replacing is deleted by the next up"
		}
		head.ID = id
		resources = append(resources, adopted)
		heads = append(heads, head)
		known[head.URN] = true
		resolutions = append(resolutions, r)
	}

	var err error
	if top["resources"], err = json.Marshal(resources); err != nil {
		return nil, nil, fmt.Errorf("writing the state's resources: %w", err)
	}
	delete(top, "pending_operations")
	out, err := json.Marshal(top)
	if err != nil {
		return nil, nil, fmt.Errorf("writing the repaired state: %w", err)
	}
	return out, resolutions, nil
}

// resourceHead is what ResolvePending reads of a resource; the rest is kept as it is.
type resourceHead struct {
	URN          string   `json:"urn"`
	Custom       bool     `json:"custom"`
	Delete       bool     `json:"delete"`
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	Parent       string   `json:"parent"`
	Provider     string   `json:"provider"`
	Dependencies []string `json:"dependencies"`
}

// adoptableID returns the provider ID of a pending create's object, or why it has none to adopt.
func adoptableID(r resourceHead, raw json.RawMessage) (id, why string) {
	if why := unadoptable(r.Custom, r.Type); why != "" {
		return "", why
	}
	var object struct {
		Inputs struct {
			Metadata objectMetadata `json:"metadata"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(raw, &object); err != nil {
		return "", fmt.Sprintf("its inputs cannot be read (%v); if its object exists, delete it by hand", err)
	}
	return object.Inputs.Metadata.id()
}

// unadoptable says why a resource of this type has no object recover can adopt, or "" when it has.
func unadoptable(custom bool, typ string) string {
	pkg, _, _ := strings.Cut(typ, ":")
	switch {
	case !custom:
		return "a component resource, with nothing outside the state"
	case pkg == "pulumi":
		return "a provider resource, with nothing outside the state"
	case pkg == "random":
		return "a random value, with nothing outside the state; the next up generates it"
	case pkg != "kubernetes":
		return fmt.Sprintf("recover cannot look %s objects up; check whether one was created and delete it by hand", pkg)
	}
	return ""
}

// objectMetadata is what recover reads of a Kubernetes object's metadata. The values are left
// untyped: a secret or unknown name is an object, from which no ID can be derived.
type objectMetadata struct {
	Name      any `json:"name"`
	Namespace any `json:"namespace"`
}

// id is the Kubernetes provider's ID of the object: namespace/name, or name when cluster-scoped.
func (m objectMetadata) id() (id, why string) {
	name, ok := m.Name.(string)
	if !ok || name == "" {
		return "", "its inputs hold no plain metadata.name; if its object exists, delete it by hand"
	}
	switch ns := m.Namespace.(type) {
	case nil:
		return name, ""
	case string:
		if ns == "" {
			return name, ""
		}
		return ns + "/" + name, ""
	default:
		return "", "its inputs hold no plain metadata.namespace; if its object exists, delete it by hand"
	}
}

// missingReferences lists the parent, provider and dependencies r names that known lacks: a resource
// joins the state only after everything it refers to.
func (r resourceHead) missingReferences(known map[string]bool) []string {
	var missing []string
	refs := slices.Clone(r.Dependencies)
	if r.Parent != "" {
		refs = append(refs, r.Parent)
	}
	if r.Provider != "" {
		// A provider reference is the provider's URN, "::", and its ID.
		if i := strings.LastIndex(r.Provider, "::"); i > 0 {
			refs = append(refs, r.Provider[:i])
		} else {
			missing = append(missing, "provider "+r.Provider)
		}
	}
	for _, ref := range refs {
		if !known[ref] && !slices.Contains(missing, ref) {
			missing = append(missing, ref)
		}
	}
	return missing
}

// adopt returns a pending create's resource with its ID set and the mark the refresh clears.
func adopt(resource json.RawMessage, id string) (json.RawMessage, error) {
	out, err := setField(resource, "id", id)
	if err != nil {
		return nil, err
	}
	return setField(out, "initErrors", []string{AdoptedInitError})
}

// setField returns the JSON object raw with key set to value, every other field untouched.
func setField(raw json.RawMessage, key string, value any) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, errors.New("not a JSON object")
	}
	v, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	fields[key] = v
	return json.Marshal(fields)
}

// unmarshalOptional decodes raw into v unless it is absent or null.
func unmarshalOptional(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return json.Unmarshal(raw, v)
}

// AddPendingCreates returns the exported deployment with a pending create for each Kubernetes object
// of creates that the state neither tracks under that object's ID nor already has pending, and the
// URNs it added. The recorded inputs are the create's own, as the provider's check made them, so that
// the refresh after the adoption reads back the object's fields in their shape and the next up finds
// nothing to change: with the object's identity alone, its autonamed annotation is missing (the next
// check would name it anew) and every field is new, so an object whose spec forces a replacement (a
// PersistentVolumeClaim's) was planned as a replacement, and refused as a data loss. The event stream
// blinds secret values; each is recorded as a secret placeholder, which keeps the path secret: the
// refresh then stores the live value there, and the live Secret's data, encrypted (see
// secretPlaceholders).
func AddPendingCreates(deployment json.RawMessage, creates []apitype.StepEventStateMetadata) (json.RawMessage, []string, error) {
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
