package stacks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Quantity is a Kubernetes quantity written as a string ("500m", "1Gi") or a plain number (50).
type Quantity string

// UnmarshalJSON accepts both forms, since YAML authors write `http_requests_per_second: 50`.
func (q *Quantity) UnmarshalJSON(data []byte) error {
	var n json.Number
	if err := json.Unmarshal(data, &n); err == nil {
		*q = Quantity(n.String())
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("quantity must be a number or a string like \"500m\": %w", err)
	}
	*q = Quantity(s)
	return nil
}

// quantityPattern is the Kubernetes quantity grammar: a signed decimal with an optional binary or decimal
// suffix or exponent.
var quantityPattern = regexp.MustCompile(`^([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$`)

var quantitySuffixes = map[string]float64{
	"": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
	"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60,
}

// parseQuantity returns the value of a Kubernetes quantity as a float, precise enough to compare
// requests with limits.
func parseQuantity(s string) (float64, error) {
	m := quantityPattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a Kubernetes quantity (examples: 250m, 1, 512Mi, 2Gi)", s)
	}
	number, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a Kubernetes quantity: %w", s, err)
	}
	if factor, ok := quantitySuffixes[m[2]]; ok {
		return number * factor, nil
	}
	exponent, err := strconv.Atoi(m[2][1:])
	if err != nil {
		return 0, fmt.Errorf("%q has a malformed exponent: %w", s, err)
	}
	return number * pow10(exponent), nil
}

func pow10(n int) float64 {
	v := 1.0
	for ; n > 0; n-- {
		v *= 10
	}
	for ; n < 0; n++ {
		v /= 10
	}
	return v
}
