package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// passwordType is the only resource token this stand-in serves.
const passwordType = "random:index/randomPassword:RandomPassword"

// maxLength bounds the requested length: the real provider has no bound, but a
// password larger than a gRPC message would fail later with an obscure error.
const maxLength = 1 << 20

// Output-only properties of a RandomPassword.
const (
	resultKey     resource.PropertyKey = "result"
	bcryptHashKey resource.PropertyKey = "bcryptHash"
)

// propertyKind is the shape an input property must have.
type propertyKind int

const (
	boolProperty      propertyKind = iota
	countProperty                  // a whole number >= 0
	stringProperty                 // any string
	stringMapProperty              // an object whose values are strings
)

// inputProperty describes one RandomPassword input as pulumi-random 4.21.2 defines it.
type inputProperty struct {
	key  resource.PropertyKey
	kind propertyKind
	// fallback is the value the real provider stores when the input is left out;
	// a null fallback means the property stays absent.
	fallback resource.PropertyValue
}

// Names that appear in more than one rule below.
const (
	lengthKey          resource.PropertyKey = "length"
	lowerKey           resource.PropertyKey = "lower"
	upperKey           resource.PropertyKey = "upper"
	numericKey         resource.PropertyKey = "numeric"
	numberKey          resource.PropertyKey = "number"
	specialKey         resource.PropertyKey = "special"
	minLowerKey        resource.PropertyKey = "minLower"
	minUpperKey        resource.PropertyKey = "minUpper"
	minNumericKey      resource.PropertyKey = "minNumeric"
	minSpecialKey      resource.PropertyKey = "minSpecial"
	overrideSpecialKey resource.PropertyKey = "overrideSpecial"
	keepersKey         resource.PropertyKey = "keepers"
)

// passwordInputs lists every input in the order diffs and failures report them.
// Every one of them forces a replacement when it changes, as in the real provider.
var passwordInputs = []inputProperty{
	{key: lengthKey, kind: countProperty, fallback: resource.NewNullProperty()},
	{key: lowerKey, kind: boolProperty, fallback: resource.NewBoolProperty(true)},
	{key: upperKey, kind: boolProperty, fallback: resource.NewBoolProperty(true)},
	{key: numericKey, kind: boolProperty, fallback: resource.NewBoolProperty(true)},
	{key: numberKey, kind: boolProperty, fallback: resource.NewBoolProperty(true)},
	{key: specialKey, kind: boolProperty, fallback: resource.NewBoolProperty(true)},
	{key: minLowerKey, kind: countProperty, fallback: resource.NewNumberProperty(0)},
	{key: minUpperKey, kind: countProperty, fallback: resource.NewNumberProperty(0)},
	{key: minNumericKey, kind: countProperty, fallback: resource.NewNumberProperty(0)},
	{key: minSpecialKey, kind: countProperty, fallback: resource.NewNumberProperty(0)},
	{key: overrideSpecialKey, kind: stringProperty, fallback: resource.NewNullProperty()},
	{key: keepersKey, kind: stringMapProperty, fallback: resource.NewNullProperty()},
}

// passwordSpec is what generation needs, decoded from checked inputs.
type passwordSpec struct {
	Length          int
	Lower           bool
	Upper           bool
	Numeric         bool
	Special         bool
	MinLower        int
	MinUpper        int
	MinNumeric      int
	MinSpecial      int
	OverrideSpecial string
}

// checkFailure names the property at fault so the engine can point at it.
type checkFailure struct {
	Property resource.PropertyKey
	Reason   string
}

// checkPassword fills defaults the way pulumi-random does and reports every
// problem with the inputs. Unknown values (during preview) are not judged.
func checkPassword(news resource.PropertyMap) (resource.PropertyMap, []checkFailure) {
	var failures []checkFailure
	for _, key := range news.StableKeys() {
		if !isPasswordInput(key) {
			failures = append(failures, checkFailure{key, "is not a RandomPassword input"})
		}
	}

	checked := withDefaults(news)
	for _, input := range passwordInputs {
		if reason := shapeProblem(input, checked[input.key]); reason != "" {
			failures = append(failures, checkFailure{input.key, reason})
		}
	}
	if len(failures) > 0 {
		// Cross-property rules assume well-shaped values.
		return checked, failures
	}
	return checked, crossPropertyProblems(checked)
}

func isPasswordInput(key resource.PropertyKey) bool {
	return slices.ContainsFunc(passwordInputs, func(p inputProperty) bool { return p.key == key })
}

// withDefaults returns a copy of props in which every absent input takes the
// value the real provider would store for it.
func withDefaults(props resource.PropertyMap) resource.PropertyMap {
	filled := props.Copy()
	// number is a deprecated alias of numeric: whichever is set decides both,
	// as terraform-provider-random's NumberNumericAttributePlanModifier does.
	number, hasNumber := filled[numberKey]
	numeric, hasNumeric := filled[numericKey]
	switch {
	case hasNumber && !hasNumeric:
		filled[numericKey] = number
	case hasNumeric && !hasNumber:
		filled[numberKey] = numeric
	}
	for _, input := range passwordInputs {
		if _, set := filled[input.key]; !set && !input.fallback.IsNull() {
			filled[input.key] = input.fallback
		}
	}
	return filled
}

// shapeProblem says what is wrong with one value, or "" when it is acceptable.
func shapeProblem(input inputProperty, value resource.PropertyValue) string {
	value = unwrapSecrets(value)
	if value.IsNull() {
		if input.key == lengthKey {
			return "is required"
		}
		return ""
	}
	if value.ContainsUnknowns() {
		return ""
	}
	switch input.kind {
	case boolProperty:
		if !value.IsBool() {
			return fmt.Sprintf("must be a boolean, got %s", value.TypeString())
		}
	case countProperty:
		if !value.IsNumber() {
			return fmt.Sprintf("must be a number, got %s", value.TypeString())
		}
		n := value.NumberValue()
		switch {
		case n != math.Trunc(n):
			return fmt.Sprintf("must be a whole number, got %v", n)
		case input.key == lengthKey && n < 1:
			return fmt.Sprintf("must be at least 1, got %v", n)
		case n < 0:
			return fmt.Sprintf("must not be negative, got %v", n)
		case n > maxLength:
			return fmt.Sprintf("must be at most %d, got %v", maxLength, n)
		}
	case stringProperty:
		if !value.IsString() {
			return fmt.Sprintf("must be a string, got %s", value.TypeString())
		}
	case stringMapProperty:
		if !value.IsObject() {
			return fmt.Sprintf("must be a map of strings, got %s", value.TypeString())
		}
		for key, element := range value.ObjectValue() {
			if element = unwrapSecrets(element); !element.IsString() && !element.IsNull() {
				return fmt.Sprintf("must be a map of strings, but %q is %s", key, element.TypeString())
			}
		}
	}
	return ""
}

// crossPropertyProblems applies the rules that relate several inputs.
func crossPropertyProblems(checked resource.PropertyMap) []checkFailure {
	var failures []checkFailure
	known := func(key resource.PropertyKey) (resource.PropertyValue, bool) {
		value := unwrapSecrets(checked[key])
		return value, !value.ContainsUnknowns()
	}

	number, numberKnown := known(numberKey)
	numeric, numericKnown := known(numericKey)
	if numberKnown && numericKnown && number.BoolValue() != numeric.BoolValue() {
		failures = append(failures, checkFailure{numericKey,
			"conflicts with the deprecated number: set only numeric, or both to the same value"})
	}

	classes := []resource.PropertyKey{lowerKey, upperKey, numericKey, specialKey}
	anyEnabled, allKnown := false, true
	for _, key := range classes {
		value, ok := known(key)
		allKnown = allKnown && ok
		anyEnabled = anyEnabled || (ok && value.BoolValue())
	}
	if allKnown && !anyEnabled {
		failures = append(failures, checkFailure{numericKey,
			"at least one of lower, upper, numeric and special must be true"})
	}

	length, lengthKnown := known(lengthKey)
	minimums := []resource.PropertyKey{minUpperKey, minLowerKey, minNumericKey, minSpecialKey}
	sum, sumKnown := 0.0, true
	for _, key := range minimums {
		value, ok := known(key)
		sumKnown = sumKnown && ok
		if ok {
			sum += value.NumberValue()
		}
	}
	if lengthKnown && sumKnown && length.NumberValue() < sum {
		failures = append(failures, checkFailure{lengthKey, fmt.Sprintf(
			"must be at least minUpper + minLower + minNumeric + minSpecial (%v), got %v",
			sum, length.NumberValue())})
	}
	return failures
}

// decodePasswordSpec reads checked, fully known inputs.
func decodePasswordSpec(checked resource.PropertyMap) (passwordSpec, error) {
	if _, failures := checkPassword(checked); len(failures) > 0 {
		return passwordSpec{}, fmt.Errorf("invalid inputs: %s", describeFailures(failures))
	}
	if checked.ContainsUnknowns() {
		return passwordSpec{}, errors.New("inputs still contain unknown values")
	}
	props := withDefaults(checked)
	boolOf := func(key resource.PropertyKey) bool { return unwrapSecrets(props[key]).BoolValue() }
	countOf := func(key resource.PropertyKey) int { return int(unwrapSecrets(props[key]).NumberValue()) }
	spec := passwordSpec{
		Length:     countOf(lengthKey),
		Lower:      boolOf(lowerKey),
		Upper:      boolOf(upperKey),
		Numeric:    boolOf(numericKey),
		Special:    boolOf(specialKey),
		MinLower:   countOf(minLowerKey),
		MinUpper:   countOf(minUpperKey),
		MinNumeric: countOf(minNumericKey),
		MinSpecial: countOf(minSpecialKey),
	}
	if override := unwrapSecrets(props[overrideSpecialKey]); override.IsString() {
		spec.OverrideSpecial = override.StringValue()
	}
	return spec, nil
}

func describeFailures(failures []checkFailure) string {
	described := make([]string, 0, len(failures))
	for _, failure := range failures {
		described = append(described, fmt.Sprintf("%s %s", failure.Property, failure.Reason))
	}
	return strings.Join(described, "; ")
}

// propertyChange is one input whose change forces a replacement.
type propertyChange struct {
	Key     resource.PropertyKey
	Added   bool // absent before, present now
	Removed bool // present before, absent now
}

// diffPassword lists the inputs that differ between the stored state and the
// new checked inputs. A value that is not known yet counts as a change, since
// it may well differ once known.
func diffPassword(olds, news resource.PropertyMap) []propertyChange {
	oldFilled, newFilled := withDefaults(olds), withDefaults(news)
	var changes []propertyChange
	for _, input := range passwordInputs {
		newValue := unwrapSecrets(newFilled[input.key])
		oldValue := unwrapSecrets(oldFilled[input.key])
		if !newValue.ContainsUnknowns() &&
			comparable(input, oldValue).DeepEquals(comparable(input, newValue)) {
			continue
		}
		changes = append(changes, propertyChange{
			Key:     input.key,
			Added:   !olds.HasValue(input.key) && news.HasValue(input.key),
			Removed: olds.HasValue(input.key) && !news.HasValue(input.key),
		})
	}
	return changes
}

// comparable maps values the real provider treats as equal to one form:
// an empty overrideSpecial and an absent one, and empty and absent keepers
// (including keepers whose values are all null).
func comparable(input inputProperty, value resource.PropertyValue) resource.PropertyValue {
	switch input.key {
	case overrideSpecialKey:
		if value.IsNull() {
			return resource.NewStringProperty("")
		}
	case keepersKey:
		kept := resource.PropertyMap{}
		if value.IsObject() {
			for key, element := range value.ObjectValue() {
				if !element.IsNull() {
					kept[key] = element
				}
			}
		}
		return resource.NewObjectProperty(kept)
	}
	return value
}

// unwrapSecrets returns value with every secret marker removed, so that
// comparisons and checks see the plain data. Secrecy is kept elsewhere by
// building outputs from the original inputs.
func unwrapSecrets(value resource.PropertyValue) resource.PropertyValue {
	switch {
	case value.IsSecret():
		return unwrapSecrets(value.SecretValue().Element)
	case value.IsObject():
		plain := resource.PropertyMap{}
		for key, element := range value.ObjectValue() {
			plain[key] = unwrapSecrets(element)
		}
		return resource.NewObjectProperty(plain)
	case value.IsArray():
		plain := make([]resource.PropertyValue, 0, len(value.ArrayValue()))
		for _, element := range value.ArrayValue() {
			plain = append(plain, unwrapSecrets(element))
		}
		return resource.NewArrayProperty(plain)
	}
	return value
}

// importedPasswordInputs are the inputs the real provider records when it
// imports an existing password given as the resource ID.
func importedPasswordInputs(password string) resource.PropertyMap {
	return withDefaults(resource.PropertyMap{
		lengthKey: resource.NewNumberProperty(float64(utf8.RuneCountInString(password))),
	})
}
