package stacks

import (
	"encoding/json"
	"fmt"

	"github.com/nexios-labs/nexios-k8s/components/kube"
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

// parseQuantity returns the value of a Kubernetes quantity as a float, precise enough to compare
// requests with limits. The grammar lives in the kube package, which sums requests with it too.
func parseQuantity(s string) (float64, error) { return kube.ParseQuantity(s) }
