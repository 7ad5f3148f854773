package kube

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// quantityPattern is the Kubernetes quantity grammar: a signed decimal with an optional binary or decimal
// suffix or exponent.
var quantityPattern = regexp.MustCompile(`^([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$`)

var quantitySuffixes = map[string]float64{
	"": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
	"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60,
}

// ParseQuantity returns the value of a Kubernetes quantity ("250m", "1", "512Mi") as a float, precise
// enough to compare requests with limits and to add them up.
func ParseQuantity(s string) (float64, error) {
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

// SumMi adds Kubernetes quantities of bytes and returns the total rounded up to a whole mebibyte, as
// "<n>Mi": a storage size or limit made of several parts (a data volume plus room for logs).
func SumMi(quantities ...string) (string, error) {
	var total float64
	for _, q := range quantities {
		v, err := ParseQuantity(q)
		if err != nil {
			return "", err
		}
		if v < 0 {
			return "", fmt.Errorf("%q is negative", q)
		}
		total += v
	}
	return fmt.Sprintf("%dMi", int64(math.Ceil(total/(1<<20)))), nil
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
