package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"
)

// resourceChange is one resource's step, built from the engine's step event: what the engine does to
// it, which properties change, what forces a replace, and how risky the step is.
type resourceChange struct {
	URN       string `json:"urn"`
	Type      string `json:"type"`
	Operation string `json:"operation"`
	// Changes lists the changed properties by path; a secret's values are never included.
	Changes []propertyChange `json:"changes,omitempty"`
	// ReplaceReasons are the properties whose change forces a replace.
	ReplaceReasons []string `json:"replaceReasons,omitempty"`
	// Risk is the gravest of Risks, or "safe".
	Risk  string `json:"risk"`
	Risks []risk `json:"risks,omitempty"`
}

// propertyChange is one changed property. Old and New are left out when the property is secret in
// either state, or absent from it (added or removed).
type propertyChange struct {
	Path          string `json:"path"`
	Kind          string `json:"kind"` // add, update or delete
	ForcesReplace bool   `json:"forcesReplace,omitempty"`
	Secret        bool   `json:"secret,omitempty"`
	Old           any    `json:"old,omitempty"`
	New           any    `json:"new,omitempty"`
}

// unknownValue stands for a value known only once the update runs (the engine's unknown sentinel).
const unknownValue = "(known after apply)"

// newResourceChange reads one step event. The engine's detailed diff names the changed property paths;
// a step without one (a provider that reports top-level keys only, or a refresh's result) falls back
// to its changed keys, then to comparing the old and new inputs.
func newResourceChange(m apitype.StepEventMetadata) resourceChange {
	c := resourceChange{URN: m.URN, Type: m.Type, Operation: string(m.Op), ReplaceReasons: m.Keys}
	oldState, newState := m.Old, m.New
	kinds := map[string]apitype.DiffKind{}
	switch {
	case len(m.DetailedDiff) > 0:
		for path, d := range m.DetailedDiff {
			kinds[path] = d.Kind
		}
	case len(m.Diffs) > 0:
		for _, key := range m.Diffs {
			kinds[key] = apitype.DiffUpdate
		}
	case m.Op == apitype.OpUpdate && oldState != nil && newState != nil:
		for _, key := range changedKeys(oldState.Inputs, newState.Inputs) {
			kinds[key] = apitype.DiffUpdate
		}
	}
	for _, path := range slices.Sorted(maps.Keys(kinds)) {
		c.Changes = append(c.Changes, newPropertyChange(path, kinds[path], oldState, newState))
	}
	c.Risks = classify(m, c.Changes)
	c.Risk = gravest(c.Risks)
	return c
}

// changedKeys are the top-level keys whose values differ between two property maps.
func changedKeys(old, new map[string]any) []string {
	var keys []string
	for key := range old {
		if !reflect.DeepEqual(old[key], new[key]) {
			keys = append(keys, key)
		}
	}
	for key := range new {
		if _, ok := old[key]; !ok {
			keys = append(keys, key)
		}
	}
	return keys
}

func newPropertyChange(path string, kind apitype.DiffKind, oldState, newState *apitype.StepEventStateMetadata) propertyChange {
	pc := propertyChange{Path: path, Kind: strings.TrimSuffix(string(kind), "-replace"), ForcesReplace: strings.HasSuffix(string(kind), "-replace")}
	oldValue, oldFound, oldSecret := lookupState(oldState, path)
	newValue, newFound, newSecret := lookupState(newState, path)
	if oldSecret || newSecret {
		pc.Secret = true
		return pc
	}
	if oldFound {
		pc.Old = displayValue(oldValue)
	}
	if newFound {
		pc.New = displayValue(newValue)
	}
	return pc
}

// lookupState finds path in a state's inputs, then in its outputs (a diff against the provider's
// recorded state names output properties). secret is true when the value, or any value on its path,
// is a secret.
func lookupState(state *apitype.StepEventStateMetadata, path string) (value any, found, secret bool) {
	if state == nil {
		return nil, false, false
	}
	parsed, err := resource.ParsePropertyPath(path)
	if err != nil {
		// A path the SDK cannot parse cannot be looked up; its values are left out.
		return nil, false, false
	}
	for _, props := range []map[string]any{state.Inputs, state.Outputs} {
		if value, found, secret = lookup(props, parsed); found || secret {
			return value, found, secret
		}
	}
	return nil, false, false
}

func lookup(props map[string]any, path resource.PropertyPath) (value any, found, secret bool) {
	var current any = props
	for _, segment := range path {
		if isSecret(current) {
			return nil, false, true
		}
		switch key := segment.(type) {
		case string:
			m, ok := current.(map[string]any)
			if !ok {
				return nil, false, false
			}
			if current, ok = m[key]; !ok {
				return nil, false, false
			}
		case int:
			a, ok := current.([]any)
			if !ok || key < 0 || key >= len(a) {
				return nil, false, false
			}
			current = a[key]
		default:
			return nil, false, false
		}
	}
	if containsSecret(current) {
		return nil, false, true
	}
	return current, true, false
}

// isSecret recognises the two forms a secret takes in engine events: the masked string, or the
// serialised secret object (signature key and secret signature).
func isSecret(v any) bool {
	switch v := v.(type) {
	case string:
		return v == secretMask
	case map[string]any:
		return v[sig.Key] == sig.Secret
	}
	return false
}

func containsSecret(v any) bool {
	if isSecret(v) {
		return true
	}
	switch v := v.(type) {
	case map[string]any:
		return slices.ContainsFunc(slices.Collect(maps.Values(v)), containsSecret)
	case []any:
		return slices.ContainsFunc(v, containsSecret)
	}
	return false
}

// displayValue replaces the engine's unknown sentinel, anywhere in v, with words.
func displayValue(v any) any {
	switch v := v.(type) {
	case string:
		if v == sig.UnknownStringValue {
			return unknownValue
		}
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = displayValue(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = displayValue(e)
		}
		return out
	}
	return v
}

// text renders a property change on one line: path: old -> new, or that a secret changed.
func (pc propertyChange) text() string {
	switch {
	case pc.Secret:
		return fmt.Sprintf("%s: %s (secret, value not shown)", pc.Path, pc.Kind)
	case pc.Kind == string(apitype.DiffAdd):
		return fmt.Sprintf("%s: added %s", pc.Path, compact(pc.New))
	case pc.Kind == string(apitype.DiffDelete):
		return fmt.Sprintf("%s: removed (was %s)", pc.Path, compact(pc.Old))
	}
	return fmt.Sprintf("%s: %s -> %s", pc.Path, compact(pc.Old), compact(pc.New))
}

// compact is a value as one line of JSON, cut to a readable length.
func compact(v any) string {
	if v == nil {
		return "(none)"
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const limit = 120
	if s := string(raw); len(s) > limit {
		return s[:limit] + "…"
	}
	return string(raw)
}

// name is the resource's name, the last part of its URN.
func (c resourceChange) name() string {
	return c.URN[strings.LastIndex(c.URN, "::")+2:]
}
