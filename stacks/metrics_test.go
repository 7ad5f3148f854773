package stacks

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/components/appmetrics"
)

const workQuery = `sum by (namespace, pod) (rate(http_requests_total{$app, path=\"/work\"}[2m]))`

// autoscalingApp is a dev nexios:app object with autoscaling on and the given autoscaling keys (raw JSON).
func autoscalingApp(keys string) string {
	return `{"image":"` + image + `","autoscaling":{"enabled":true,` + keys + `}}`
}

func TestMetricDefinitionDecodes(t *testing.T) {
	cfg, err := Parse("dev", map[string]Setting{"nexios:app": {Value: autoscalingApp(
		`"customMetrics":{"work_requests_per_second":20},` +
			`"metricDefinitions":{"work_requests_per_second":{"query":"` + workQuery + `","unit":"reqps"}}`)}})
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.App.Autoscaling.Definitions()
	want := map[string]appmetrics.Definition{"work_requests_per_second": {Query: strings.ReplaceAll(workQuery, `\"`, `"`), Unit: "reqps"}}
	if len(got) != 1 || got["work_requests_per_second"] != want["work_requests_per_second"] {
		t.Errorf("definitions %+v, want %+v", got, want)
	}
}

// Every problem of a definition is reported at its own key, together with the others: an unused
// definition, an undefined name in customMetrics, a query that is not per pod, a bad unit, a reserved name.
func TestMetricDefinitionProblems(t *testing.T) {
	tests := []struct {
		name string
		app  string
		want []want
	}{
		{
			name: "unused definition and undefined metric together",
			app: autoscalingApp(`"customMetrics":{"queue_depth":10},` +
				`"metricDefinitions":{"work_rps":{"query":"` + workQuery + `"}}`),
			want: []want{
				{"nexios:app.autoscaling.metricDefinitions.work_rps", "declared but unused: add a target under app.autoscaling.customMetrics.work_rps or remove it"},
				{"nexios:app.autoscaling.customMetrics.queue_depth", `"queue_depth" is neither a built-in scaling metric (known: http_requests_per_second) nor defined under app.autoscaling.metricDefinitions (defined: work_rps)`},
			},
		},
		{
			name: "each field at its key",
			app: autoscalingApp(`"customMetrics":{"work_rps":20,"http_requests_total":5},` +
				`"metricDefinitions":{` +
				`"work_rps":{"query":"sum by (pod) (rate(http_requests_total{$app}[2m]))","unit":"req per s"},` +
				`"http_requests_total":{"query":"` + workQuery + `"}}`),
			want: []want{
				{"nexios:app.autoscaling.metricDefinitions.work_rps.query", "sum groups by (pod); group by exactly (namespace, pod)"},
				{"nexios:app.autoscaling.metricDefinitions.work_rps.unit", `"req per s" is not a Grafana unit id`},
				{"nexios:app.autoscaling.metricDefinitions.http_requests_total", "one of the app's own series"},
				{"nexios:app.autoscaling.metricDefinitions.http_requests_total.query", "reads http_requests_total, the series this query records"},
			},
		},
		{
			name: "query without $app and a misspelled key",
			app: autoscalingApp(`"customMetrics":{"work_rps":20},` +
				`"metricDefinitions":{"work_rps":{"query":"sum by (namespace, pod) (rate(http_requests_total[2m]))","titel":"Work"}}`),
			want: []want{
				{"nexios:app.autoscaling.metricDefinitions.work_rps.query", "does not contain $app"},
				{"nexios:app.autoscaling.metricDefinitions.work_rps.titel", `unknown key; did you mean "title"?`},
			},
		},
		{
			name: "invalid names",
			app: autoscalingApp(`"customMetrics":{"work-rps":20,"http_requests_per_second":50},` +
				`"metricDefinitions":{"work-rps":{"query":"` + workQuery + `"},"http_requests_per_second":{"query":"` + workQuery + `"}}`),
			want: []want{
				{"nexios:app.autoscaling.customMetrics.work-rps", "not a valid Prometheus metric name"},
				{"nexios:app.autoscaling.metricDefinitions.work-rps", "not a valid Prometheus metric name"},
				{"nexios:app.autoscaling.metricDefinitions.http_requests_per_second", "is a built-in scaling metric"},
			},
		},
		{
			// The target was rejected, so the definition is not unused: the stack file names it.
			name: "a rejected target does not make its definition unused",
			app: autoscalingApp(`"customMetrics":{"work_rps":"lots"},` +
				`"metricDefinitions":{"work_rps":{"query":"` + workQuery + `"}}`),
			want: []want{{"nexios:app.autoscaling.customMetrics.work_rps", "lots"}},
		},
		{
			// The definitions were rejected as a whole, so the name in customMetrics is not undefined.
			name: "rejected definitions do not make a metric undefined",
			app:  autoscalingApp(`"customMetrics":{"work_rps":20},"metricDefinitions":["work_rps"]`),
			want: []want{{"nexios:app.autoscaling.metricDefinitions", "expected a mapping, got a list"}},
		},
		{
			// A definition waits for autoscaling to be switched on; it is checked already.
			name: "checked with autoscaling off",
			app: `{"image":"` + image + `","autoscaling":{"customMetrics":{"work_rps":20},` +
				`"metricDefinitions":{"work_rps":{"query":"rate(http_requests_total{$app}[2m])"},"unused_rps":{"query":"` + workQuery + `"}}}}`,
			want: []want{
				{"nexios:app.autoscaling.metricDefinitions.work_rps.query", "the outermost expression is a call of rate()"},
				{"nexios:app.autoscaling.metricDefinitions.unused_rps", "declared but unused"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !json.Valid([]byte(tt.app)) {
				t.Fatalf("the test's app object is not JSON: %s", tt.app)
			}
			got := parseProblems(t, "dev", map[string]string{"nexios:app": tt.app})
			if len(got) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(got), len(tt.want), listProblems(got))
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(p Problem) bool { return p.Key == w.key && strings.Contains(p.Message, w.msg) }) {
					t.Errorf("no problem %s: ...%s... in:\n%s", w.key, w.msg, listProblems(got))
				}
			}
		})
	}
}
