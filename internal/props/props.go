// Package props reads a resource's inputs by path: the mocks' recorded registrations in tests and the
// engine's step events in the pipeline's policy checks read them the same way.
package props

import (
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Map is a resource's input properties.
type Map resource.PropertyMap

// Get walks a dotted path such as "spec.template.spec.containers[0].image" through the inputs,
// looking through secrets and resolved outputs. The second result is false when the path does not
// exist; an unknown value (Unknown) exists, but is neither a string, a number, a bool nor a container.
func (m Map) Get(path string) (resource.PropertyValue, bool) {
	v := resource.NewObjectProperty(resource.PropertyMap(m))
	for _, step := range splitPath(path) {
		v = reveal(v)
		switch {
		case step.index >= 0:
			if !v.IsArray() || step.index >= len(v.ArrayValue()) {
				return resource.PropertyValue{}, false
			}
			v = v.ArrayValue()[step.index]
		case v.IsObject():
			next, ok := v.ObjectValue()[resource.PropertyKey(step.key)]
			if !ok {
				return resource.PropertyValue{}, false
			}
			v = next
		default:
			return resource.PropertyValue{}, false
		}
	}
	v = reveal(v)
	return v, !v.IsNull()
}

// reveal looks through secrets and known outputs to the value they hold.
func reveal(v resource.PropertyValue) resource.PropertyValue {
	for {
		switch {
		case v.IsSecret():
			v = v.SecretValue().Element
		case v.IsOutput() && v.OutputValue().Known:
			v = v.OutputValue().Element
		default:
			return v
		}
	}
}

// Unknown reports whether the value at path is not known yet, as in a preview of a value another
// resource has still to produce: the value itself, or a value on the way to it, is computed (or an
// unknown output). A check reads an unknown value as no violation.
func (m Map) Unknown(path string) bool {
	v := resource.NewObjectProperty(resource.PropertyMap(m))
	for _, step := range splitPath(path) {
		v = reveal(v)
		if v.IsComputed() || v.IsOutput() {
			return true
		}
		switch {
		case step.index >= 0 && v.IsArray() && step.index < len(v.ArrayValue()):
			v = v.ArrayValue()[step.index]
		case step.index < 0 && v.IsObject():
			v = v.ObjectValue()[resource.PropertyKey(step.key)]
		default:
			return false
		}
	}
	v = reveal(v)
	return v.IsComputed() || v.IsOutput()
}

// String returns the string at path, or "" when absent.
func (m Map) String(path string) string {
	v, ok := m.Get(path)
	if !ok || !v.IsString() {
		return ""
	}
	return v.StringValue()
}

// Number returns the number at path, or -1 when absent, so a missing value never passes as zero.
func (m Map) Number(path string) float64 {
	v, ok := m.Get(path)
	if !ok || !v.IsNumber() {
		return -1
	}
	return v.NumberValue()
}

// Bool returns the boolean at path and whether it was set.
func (m Map) Bool(path string) (value, set bool) {
	v, ok := m.Get(path)
	if !ok || !v.IsBool() {
		return false, false
	}
	return v.BoolValue(), true
}

// Len returns the length of the array or object at path, or 0.
func (m Map) Len(path string) int {
	v, ok := m.Get(path)
	switch {
	case !ok:
		return 0
	case v.IsArray():
		return len(v.ArrayValue())
	case v.IsObject():
		return len(v.ObjectValue())
	}
	return 0
}

// Strings returns the string values of the object at path (labels, selectors), leaving out the
// values that are not strings.
func (m Map) Strings(path string) map[string]string {
	v, ok := m.Get(path)
	if !ok || !v.IsObject() {
		return nil
	}
	out := map[string]string{}
	for k, e := range v.ObjectValue() {
		if e = reveal(e); e.IsString() {
			out[string(k)] = e.StringValue()
		}
	}
	return out
}

// IsSecret reports whether the value at path, or any value on the way to it, is marked secret.
func (m Map) IsSecret(path string) bool {
	v := resource.NewObjectProperty(resource.PropertyMap(m))
	for _, step := range splitPath(path) {
		if v.IsSecret() {
			return true
		}
		switch {
		case step.index >= 0 && v.IsArray() && step.index < len(v.ArrayValue()):
			v = v.ArrayValue()[step.index]
		case step.index < 0 && v.IsObject():
			v = v.ObjectValue()[resource.PropertyKey(step.key)]
		default:
			return false
		}
	}
	return v.IsSecret() || v.ContainsSecrets()
}

type pathStep struct {
	key   string
	index int
}

// splitPath turns `a.b[2].c` into steps; keys containing dots are written in brackets: `labels["app.kubernetes.io/name"]`.
func splitPath(path string) []pathStep {
	var steps []pathStep
	for len(path) > 0 {
		switch {
		case strings.HasPrefix(path, `["`):
			end := strings.Index(path, `"]`)
			steps = append(steps, pathStep{key: path[2:end], index: -1})
			path = path[end+2:]
		case path[0] == '[':
			end := strings.IndexByte(path, ']')
			n, _ := strconv.Atoi(path[1:end])
			steps = append(steps, pathStep{index: n})
			path = path[end+1:]
		case path[0] == '.':
			path = path[1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			steps = append(steps, pathStep{key: path[:end], index: -1})
			path = path[end:]
		}
	}
	return steps
}
