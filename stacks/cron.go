package stacks

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// cronDescriptors are the shorthands a CronJob's schedule accepts besides five fields.
var cronDescriptors = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

// cronField is one field of a five-field schedule: its name, its range and the names it accepts.
type cronField struct {
	name    string
	lo, hi  int
	names   []string // names[i] stands for lo+i
	anyMark bool     // '?' is accepted as '*'
}

var cronFields = []cronField{
	{name: "minute", lo: 0, hi: 59},
	{name: "hour", lo: 0, hi: 23},
	{name: "day of month", lo: 1, hi: 31, anyMark: true},
	{name: "month", lo: 1, hi: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	// 7 is Sunday too, as in cron.
	{name: "day of week", lo: 0, hi: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}, anyMark: true},
}

// checkCron returns why schedule is not one Kubernetes' CronJob controller accepts: five fields of
// values, ranges, steps and lists within each field's range, or a descriptor such as @daily. (The
// controller also takes "@every <duration>", which this program does not need.)
func checkCron(schedule string) error {
	s := strings.TrimSpace(schedule)
	if strings.HasPrefix(s, "@") {
		if slices.Contains(cronDescriptors, strings.ToLower(s)) {
			return nil
		}
		return fmt.Errorf("unknown descriptor %s (known: %s)", s, strings.Join(cronDescriptors, ", "))
	}
	fields := strings.Fields(s)
	if len(fields) != len(cronFields) {
		return fmt.Errorf("%d fields, want 5", len(fields))
	}
	for i, f := range cronFields {
		if err := f.check(fields[i]); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

// check accepts a comma-separated list of *, ?, N, N-M, each optionally followed by /STEP.
func (f cronField) check(field string) error {
	for _, item := range strings.Split(field, ",") {
		base, step, stepped := strings.Cut(item, "/")
		if stepped {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 {
				return fmt.Errorf("step %q is not a whole number above 0", step)
			}
		}
		if base == "*" || (base == "?" && f.anyMark) {
			continue
		}
		from, to, ranged := strings.Cut(base, "-")
		lo, err := f.value(from)
		if err != nil {
			return err
		}
		hi := lo
		if ranged {
			if hi, err = f.value(to); err != nil {
				return err
			}
			if hi < lo {
				return fmt.Errorf("range %s ends before it starts", base)
			}
		}
	}
	return nil
}

// value reads a number or a name within the field's range.
func (f cronField) value(s string) (int, error) {
	if i := slices.Index(f.names, strings.ToLower(s)); i >= 0 {
		return f.lo + i, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n < f.lo || n > f.hi {
		return 0, fmt.Errorf("%d is not between %d and %d", n, f.lo, f.hi)
	}
	return n, nil
}
