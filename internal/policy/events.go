package policy

import (
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"

	"github.com/nexios-labs/nexios-k8s/internal/props"
)

// notRegistered are the steps whose resource the program does not register (anymore): deletions,
// the old half of a replacement, reads of external objects, refreshes.
var notRegistered = map[apitype.OpType]bool{
	apitype.OpDelete:          true,
	apitype.OpDeleteReplaced:  true,
	apitype.OpDiscardReplaced: true,
	apitype.OpRead:            true,
	apitype.OpReadReplacement: true,
	apitype.OpRefresh:         true,
}

// FromStep returns the resource a preview's step registers, with the inputs of its new state, and
// false for a step that registers none. Every resource of the program gets a step, a "same" one
// included, and the new state's inputs are the provider's checked inputs.
func FromStep(m apitype.StepEventMetadata) (Resource, bool) {
	if m.New == nil || notRegistered[m.Op] {
		return Resource{}, false
	}
	return Resource{URN: m.URN, Type: m.Type, Name: resource.URN(m.URN).Name(), Inputs: fromEvent(m.New.Inputs)}, true
}

// fromEvent turns the engine's serialized inputs back into properties: the unknown sentinel of a
// preview becomes an unknown value, and a secret, which the event carries blinded ("[secret]"),
// becomes a secret unknown value, so no check ever reads it and no message ever prints it.
func fromEvent(inputs map[string]any) props.Map {
	return props.Map(resource.NewPropertyMapFromMapRepl(inputs, nil, func(v any) (resource.PropertyValue, bool) {
		switch t := v.(type) {
		case string:
			if t == sig.UnknownStringValue {
				return resource.MakeComputed(resource.NewStringProperty("")), true
			}
		case map[string]any:
			if t[sig.Key] == sig.Secret {
				return resource.MakeSecret(resource.MakeComputed(resource.NewStringProperty(""))), true
			}
		}
		return resource.PropertyValue{}, false
	}))
}
