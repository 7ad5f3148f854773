package stacks

import (
	"strings"
	"testing"
)

func TestCheckCron(t *testing.T) {
	tests := []struct {
		schedule string
		want     string // "" for a schedule the CronJob controller accepts
	}{
		{"0 2 * * *", ""},
		{"*/15 * * * *", ""},
		{"30 1 1,15 * ?", ""},
		{"0 3 * jan-mar mon-fri", ""},
		{"0 0 * * 7", ""},
		{"@daily", ""},
		{"@Weekly", ""},
		{"", "0 fields, want 5"},
		{"0 30 1 * * ?", "6 fields, want 5"},
		{"60 * * * *", "minute: 60 is not between 0 and 59"},
		{"0 0 0 * *", "day of month: 0 is not between 1 and 31"},
		{"0 0 * 13 *", "month: 13 is not between 1 and 12"},
		{"0 0 * * 8", "day of week: 8 is not between 0 and 7"},
		{"0 0 ? * *", ""},
		{"? 0 * * *", `minute: "?" is not a number`},
		{"*/0 * * * *", `minute: step "0" is not a whole number above 0`},
		{"0 5-2 * * *", "hour: range 5-2 ends before it starts"},
		{"0 2 * * funday", `day of week: "funday" is not a number`},
		{"@every 1h", "unknown descriptor"},
	}
	for _, tt := range tests {
		t.Run(tt.schedule, func(t *testing.T) {
			err := checkCron(tt.schedule)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("rejected: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
