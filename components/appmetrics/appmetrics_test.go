package appmetrics

import (
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	m, err := Lookup("http_requests_per_second")
	if err != nil {
		t.Fatal(err)
	}
	want := `sum by (namespace, pod) (rate(http_requests_total{job="nexios"}[2m]))`
	if got := m.Expr(`job="nexios"`); got != want {
		t.Errorf("Expr = %s, want %s", got, want)
	}
	if _, err := Lookup("http_requests_per_minute"); err == nil || !strings.Contains(err.Error(), "http_requests_per_second") {
		t.Errorf("unknown metric: error %v should list the known ones", err)
	}
}

// The built-in metrics pass the checks a stack's own definitions get, so the two kinds cannot drift.
func TestBuiltinsPassTheDefinitionChecks(t *testing.T) {
	for _, name := range Names() {
		m, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Validate(); err != nil {
			t.Errorf("built-in %s: %v", name, err)
		}
	}
}

func TestValidateQuery(t *testing.T) {
	tests := []struct {
		name, query string
		// want is "" for a valid query, else fragments the error must contain.
		want []string
	}{
		{"aggregation", `sum by (namespace, pod) (rate(http_requests_total{$app, path="/work"}[2m]))`, nil},
		{"grouping in another order, parenthesised", `((avg by (pod, namespace) (rate(http_requests_total{$app}[2m]))))`, nil},
		{"ratio", `sum by (namespace, pod) (rate(http_request_duration_seconds_sum{$app}[2m]))
  / sum by (namespace, pod) (rate(http_request_duration_seconds_count{$app}[2m]))`, nil},
		{"ratio matched on both labels", `sum by (namespace, pod) (rate(http_requests_total{$app, status=~"5.."}[2m])) / on (namespace, pod) sum by (namespace, pod) (rate(http_requests_total{$app}[2m]))`, nil},
		{"scaled by a scalar", `60 * sum by (namespace, pod) (rate(http_requests_total{$app}[2m]))`, nil},
		{"quantile wrapped in an aggregation", `max by (namespace, pod) (histogram_quantile(0.95, sum by (namespace, pod, le) (rate(http_request_duration_seconds_bucket{$app}[2m]))))`, nil},

		{"missing $app", `sum by (namespace, pod) (rate(http_requests_total{path="/work"}[2m]))`, []string{"does not contain $app"}},
		{"empty", `  `, []string{"is empty"}},
		{"one selector without $app among several", `sum by (namespace, pod) (rate(http_requests_total{$app}[2m]))
  / sum by (namespace, pod) (rate(http_requests_total{job="other"}[2m]))`,
			[]string{`the selector http_requests_total{job="other"} at 2:35 lacks $app`}},
		{"without", `sum without (method, path, status) (rate(http_requests_total{$app}[2m]))`, []string{"sum aggregates without (method, path, status)"}},
		{"grouped by pod only", `sum by (pod) (rate(http_requests_total{$app}[2m]))`, []string{"sum groups by (pod); group by exactly (namespace, pod)"}},
		{"extra grouping label", `sum by (namespace, pod, path) (rate(http_requests_total{$app}[2m]))`, []string{"sum groups by (namespace, pod, path)"}},
		{"topk keeps the series", `topk by (namespace, pod) (1, rate(http_requests_total{$app}[2m]))`, []string{"topk keeps several series per group"}},
		{"range vector", `rate(http_requests_total{$app}[2m])[5m:1m]`, []string{"is a range vector, not an instant vector", "rate(...)"}},
		{"scalar", `scalar(sum(http_requests_total{$app}))`, []string{"is a scalar, not an instant vector"}},
		// The parser points just past the offending token (the 62nd character here), as promtool does;
		// the position counts in the query as written, not in the one with $app expanded.
		{"parse error, positioned in the query as written", `sum by (namespace, pod) (rate(http_requests_total{$app}[2m])))`, []string{"is not valid PromQL", "1:63: parse error: unexpected right parenthesis"}},
		{"not an aggregation", `rate(http_requests_total{$app}[2m])`, []string{"the outermost expression is a call of rate()", "max by (namespace, pod)"}},
		{"ratio with a side not per pod", `sum by (namespace, pod) (rate(http_requests_total{$app}[2m])) / sum by (namespace) (rate(http_requests_total{$app}[2m]))`,
			[]string{"right of /: sum groups by (namespace)"}},
		{"matching that drops namespace", `sum by (namespace, pod) (rate(http_requests_total{$app}[2m])) / on (pod) sum by (namespace, pod) (rate(http_requests_total{$app}[2m]))`,
			[]string{"/ on (pod) drops namespace or pod"}},
		{"group_left", `sum by (namespace, pod) (rate(http_requests_total{$app}[2m])) / on (namespace, pod) group_left sum by (namespace, pod) (rate(http_requests_total{$app}[2m]))`,
			[]string{"many-to-one"}},
		{"reads its own series", `sum by (namespace, pod) (work_requests_per_second{$app})`, []string{"reads work_requests_per_second, the series this query records"}},
		{"every problem at once", `sum by (pod) (rate(http_requests_total{job="other"}[2m])) + 0 * sum by (namespace, pod) (up{$app})`,
			[]string{"left of +: sum groups by (pod)", `the selector http_requests_total{job="other"} at 1:20 lacks $app`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateQuery("work_requests_per_second", tt.query)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("valid query refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tt.want)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct{ name, want string }{
		{"work_requests_per_second", ""},
		{"nexios:work_rps", ""},
		{"", "empty"},
		{"work-rps", "not a valid Prometheus metric name"},
		{"2xx_rate", "not a valid Prometheus metric name"},
		{"__work", "reserves"},
		{"http_requests_per_second", "built-in scaling metric"},
		{RequestsTotal, "app's own series"},
		{RequestDuration + "_bucket", "app's own series"},
		{RequestDuration + "_count", "app's own series"},
		{"up", "every target"},
		{"kube_pod_info", "monitoring stack's own rules"},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%q refused: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestValidateUnit(t *testing.T) {
	for _, unit := range []string{"short", "reqps", "percentunit", "s", "currencyUSD"} {
		if err := ValidateUnit(unit); err != nil {
			t.Errorf("%q: %v", unit, err)
		}
	}
	for _, unit := range []string{"", "req per s", "reqps\n"} {
		if err := ValidateUnit(unit); err == nil {
			t.Errorf("%q accepted", unit)
		}
	}
}

func TestResolve(t *testing.T) {
	defs := map[string]Definition{
		"work_requests_per_second": {Query: `sum by (namespace, pod) (rate(http_requests_total{$app, path="/work"}[2m]))`},
		"broken":                   {Query: `rate(http_requests_total[2m])`, Unit: "per second"},
	}
	m, err := Resolve("work_requests_per_second", defs)
	if err != nil {
		t.Fatal(err)
	}
	if m.Title != "work_requests_per_second" || m.Unit != DefaultUnit {
		t.Errorf("defaults: title %q unit %q", m.Title, m.Unit)
	}
	want := `sum by (namespace, pod) (rate(http_requests_total{job="nexios", namespace="nexios-prod", path="/work"}[2m]))`
	if got := m.Expr(`job="nexios", namespace="nexios-prod"`); got != want {
		t.Errorf("Expr = %s, want %s", got, want)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("a defined metric fails Validate: %v", err)
	}
	if m, err := Resolve("http_requests_per_second", defs); err != nil || m.Unit != "reqps" {
		t.Errorf("built-in: %+v, %v", m, err)
	}
	_, err = Resolve("broken", defs)
	for _, want := range []string{`scaling metric "broken"`, "query: does not contain $app", "unit:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("broken definition: error %v lacks %q", err, want)
		}
	}
	_, err = Resolve("queue_depth", defs)
	for _, want := range []string{"known: http_requests_per_second", "defined: broken, work_requests_per_second"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("unknown metric: error %v lacks %q", err, want)
		}
	}
	if _, err := Resolve("http_requests_per_second", map[string]Definition{"http_requests_per_second": defs["work_requests_per_second"]}); err == nil ||
		!strings.Contains(err.Error(), "built-in") {
		t.Errorf("a definition reusing a built-in name: %v", err)
	}
	if err := (ScalingMetric{}).Validate(); err == nil {
		t.Error("the zero scaling metric passes Validate")
	}
}
