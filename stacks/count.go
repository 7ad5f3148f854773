package stacks

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// CountOrPercent is a number of pods or a percentage of them ("25%"), like Kubernetes' IntOrString:
// a stack file may write a count as a YAML number (1) or a string ("1").
type CountOrPercent string

// UnmarshalJSON takes a string as it is and a whole number as its decimal text.
func (c *CountOrPercent) UnmarshalJSON(raw []byte) error {
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		*c = CountOrPercent(text)
		return nil
	}
	var count int64
	if err := json.Unmarshal(raw, &count); err != nil {
		return fmt.Errorf("expected a whole number of pods such as 1 or a percentage such as \"25%%\", got %s", raw)
	}
	*c = CountOrPercent(strconv.FormatInt(count, 10))
	return nil
}
