package stacks

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// want is one problem a test expects: its exact key and a part of its message.
type want struct{ key, msg string }

// parseProblems runs Parse on a dev stack whose keys are given as raw JSON text, the way Pulumi hands
// objects to a program, and returns every problem reported.
func parseProblems(t *testing.T, stack string, raw map[string]string) []Problem {
	t.Helper()
	settings := map[string]Setting{}
	for k, v := range raw {
		settings[k] = Setting{Value: v}
	}
	_, err := Parse(stack, settings)
	if err == nil {
		return nil
	}
	var cerr *ConfigError
	if !errors.As(err, &cerr) {
		t.Fatalf("error is %T, want *ConfigError: %v", err, err)
	}
	return cerr.Problems
}

func TestDecodeNamesFullPathsAndReportsEverything(t *testing.T) {
	tests := []struct {
		name string
		app  string // the nexios:app object
		more map[string]string
		// want lists every problem expected, and nothing else may be reported.
		want []want
	}{
		{
			name: "map value of the wrong type names its key",
			app:  `{"image":"` + image + `","env":{"LOG_LEVEL":{"level":"debug"},"LOG_FORMAT":"json"}}`,
			want: []want{{"nexios:app.env.LOG_LEVEL", "expected a string, got a mapping"}},
		},
		{
			name: "two map values of the wrong type are both reported",
			app:  `{"image":"` + image + `","env":{"LOG_LEVEL":{},"LOG_FORMAT":["json"]}}`,
			want: []want{
				{"nexios:app.env.LOG_FORMAT", "expected a string, got a list"},
				{"nexios:app.env.LOG_LEVEL", "expected a string, got a mapping"},
			},
		},
		{
			name: "list item field names its index",
			app:  `{"image":"` + image + `","volumes":[{"name":"data","mountPath":5,"size":"1Gi","accessMode":"ReadWriteOnce"}]}`,
			// Without the index, and without "" must be an absolute path invented from the rejected value.
			want: []want{{"nexios:app.volumes[0].mountPath", "expected a string, got a number"}},
		},
		{
			name: "second list item",
			app: `{"image":"` + image + `","volumes":[{"name":"a","mountPath":"/a","size":"1Gi","accessMode":"ReadWriteOnce"},` +
				`{"name":"b","mountPath":"/b","size":{"gi":1},"accessMode":"ReadWriteOnce"}]}`,
			want: []want{{"nexios:app.volumes[1].size", "expected a string, got a mapping"}},
		},
		{
			name: "list item of the wrong type keeps its index and invents nothing inside it",
			app:  `{"image":"` + image + `","volumes":["data"]}`,
			want: []want{{"nexios:app.volumes[0]", "expected a mapping, got a string"}},
		},
		{
			name: "scalar list item",
			app:  `{"image":"` + image + `","networkPolicy":{"egressPorts":[443,"postgres"]}}`,
			want: []want{{"nexios:app.networkPolicy.egressPorts[1]", "expected a whole number, got a string"}},
		},
		{
			name: "two type errors are both reported",
			app:  `{"image":"` + image + `","replicas":"three","port":true}`,
			want: []want{
				{"nexios:app.port", "expected a whole number, got true or false"},
				{"nexios:app.replicas", "expected a whole number, got a string"},
			},
		},
		{
			name: "unknown key next to a wrong type: both, and the image that is set is not required",
			app:  `{"image":"` + image + `","replicaz":2,"replicas":"three"}`,
			want: []want{
				{"nexios:app.replicas", "expected a whole number, got a string"},
				{"nexios:app.replicaz", `unknown key; did you mean "replicas"?`},
			},
		},
		{
			name: "mistyped image is not also missing",
			app:  `{"image":5}`,
			want: []want{{"nexios:app.image", "expected a string, got a number"}},
		},
		{
			name: "fraction in a whole number",
			app:  `{"image":"` + image + `","replicas":2.5}`,
			want: []want{{"nexios:app.replicas", "expected a whole number, got 2.5"}},
		},
		{
			name: "number too large for the field",
			app:  `{"image":"` + image + `","port":1e40}`,
			want: []want{{"nexios:app.port", "1e40 is out of range"}},
		},
		{
			name: "custom unmarshaler's error at its path",
			app:  `{"image":"` + image + `","autoscaling":{"enabled":true,"customMetrics":{"http_requests_per_second":{"value":50}}}}`,
			// Not also "autoscaling is enabled with no metric": the metric was given, mistyped.
			want: []want{{"nexios:app.autoscaling.customMetrics.http_requests_per_second", "quantity must be a number or a string"}},
		},
		{
			name: "nested map in a nested struct",
			app:  `{"image":"` + image + `","ingress":{"annotations":{"a":"1","b":2}}}`,
			want: []want{{"nexios:app.ingress.annotations.b", "expected a string, got a number"}},
		},
		{
			name: "unknown and mistyped keys inside a list of structs",
			app: `{"image":"` + image + `","serviceAccount":{"rules":[` +
				`{"apiGroups":[""],"resources":["pods"],"verbs":"get"},` +
				`{"apiGroups":[""],"resources":["pods"],"verbs":["get"],"resource":["x"]}]}}`,
			// rules[0] is not also said to need verbs: they were given, as a string.
			want: []want{
				{"nexios:app.serviceAccount.rules[0].verbs", "expected a list, got a string"},
				{"nexios:app.serviceAccount.rules[1].resource", `did you mean "resources"?`},
			},
		},
		{
			name: "struct given as a scalar",
			app:  `{"image":"` + image + `","resources":"small"}`,
			want: []want{{"nexios:app.resources", "expected a mapping, got a string"}},
		},
		{
			name: "errors in several sections at once, validation of the rest still runs",
			app:  `{"image":"` + image + `","port":"http","service":{"type":"External"}}`,
			more: map[string]string{
				"nexios:monitoring": `{"alerts":{"errorRatePercent":"high"},"mode":"sidecar","grafana":{"ingresHost":"g.example.com"}}`,
				"nexios:logging":    `{"enabled":true,"retentionDays":1.5}`,
			},
			want: []want{
				{"nexios:app.port", "expected a whole number, got a string"},
				{"nexios:logging.retentionDays", "expected a whole number, got 1.5"},
				{"nexios:monitoring.alerts.errorRatePercent", "expected a number, got a string"},
				{"nexios:monitoring.grafana.ingresHost", `did you mean "ingressHost"?`},
				{"nexios:app.service.type", "is not one of ClusterIP"},
				{"nexios:monitoring.mode", "is not one of bundled"},
			},
		},
		{
			name: "a volume without an access mode says it is required",
			app:  `{"image":"` + image + `","volumes":[{"name":"data","mountPath":"/data","size":"1Gi"}]}`,
			want: []want{{"nexios:app.volumes[0].accessMode", "is required: one of ReadWriteOnce"}},
		},
		{
			name: "a wrong probe period is not reported again through its timeout",
			app:  `{"image":"` + image + `","probes":{"readiness":{"periodSeconds":-5}}}`,
			want: []want{{"nexios:app.probes.readiness.periodSeconds", "must be at least 1, got -5"}},
		},
		{
			name: "a count written as a YAML number is a count; a fraction is neither count nor percentage",
			app:  `{"image":"` + image + `","replicas":3,"disruptionBudget":{"enabled":true,"maxUnavailable":1},"rollout":{"maxSurge":1.5}}`,
			want: []want{{"nexios:app.rollout.maxSurge", "expected a whole number of pods such as 1 or a percentage"}},
		},
		{
			name: "section that is not a mapping invents nothing below it",
			app:  `"ghcr.io/acme/app:1"`,
			want: []want{{"nexios:app", "must be a mapping of keys, got a plain value"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]string{"nexios:app": tt.app}
			for k, v := range tt.more {
				raw[k] = v
			}
			got := parseProblems(t, "dev", raw)
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

func listProblems(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("  " + p.Key + ": " + p.Message + "\n")
	}
	return b.String()
}

// A value in a secret object must never be echoed, whatever its type error.
func TestDecodeNeverEchoesStrings(t *testing.T) {
	got := parseProblems(t, "dev", map[string]string{
		"nexios:app": `{"image":"` + image + `","secretEnv":{"TOKEN":["hunter2"]},"replicas":"hunter2","env":"hunter2"}`,
	})
	if len(got) != 3 {
		t.Errorf("want 3 problems, got:\n%s", listProblems(got))
	}
	if text := listProblems(got); strings.Contains(text, "hunter2") {
		t.Errorf("a value is echoed:\n%s", text)
	}
}

// decodeInto decodes raw JSON text over a copy of defaults with the stack decoder.
func decodeInto[T any](t *testing.T, defaults T, raw string) (T, []Problem, []string) {
	t.Helper()
	generic, err := parseJSON(raw)
	if err != nil {
		t.Fatalf("test input %s: %v", raw, err)
	}
	var ps problems
	d := decoder{ps: &ps}
	out := defaults
	d.decode("x", generic, reflect.ValueOf(&out).Elem())
	return out, ps, d.failed
}

type embedded struct {
	Promoted string `json:"promoted"`
}

// decodeTarget exercises the kinds the stack types do not use today but may tomorrow.
type decodeTarget struct {
	embedded
	Count    int               `json:"count"`
	Small    int8              `json:"small"`
	Size     uint              `json:"size"`
	Ratio    float64           `json:"ratio"`
	On       bool              `json:"on"`
	Labels   map[string]string `json:"labels"`
	Items    []string          `json:"items"`
	Ptr      *Probe            `json:"ptr"`
	Any      any               `json:"any"`
	Quantity Quantity          `json:"quantity"`
	Untagged string
	Skipped  string `json:"-"`
	hidden   string
}

func TestDecoderMergesLikeEncodingJSON(t *testing.T) {
	defaults := decodeTarget{
		embedded: embedded{Promoted: "p"},
		Count:    1, Ratio: 0.5, On: true, Quantity: "1",
		Labels: map[string]string{"kept": "yes", "replaced": "old"},
		Items:  []string{"a", "b", "c"},
		hidden: "h",
	}
	tests := []struct {
		name  string
		raw   string
		check func(t *testing.T, got decodeTarget)
		// wider: encoding/json rejects this input; the decoder accepts it on purpose.
		wider bool
	}{
		{"absent keys keep their default", `{}`, func(t *testing.T, got decodeTarget) {
			if !reflect.DeepEqual(got, defaults) {
				t.Errorf("got %+v, want the defaults %+v", got, defaults)
			}
		}, false},
		{"a map merges into the default map", `{"labels":{"replaced":"new","added":"1"}}`, func(t *testing.T, got decodeTarget) {
			expectDeep(t, "labels", got.Labels, map[string]string{"kept": "yes", "replaced": "new", "added": "1"})
		}, false},
		{"a list replaces the default list", `{"items":["z"]}`, func(t *testing.T, got decodeTarget) {
			expectDeep(t, "items", got.Items, []string{"z"})
		}, false},
		{"null empties maps and lists", `{"labels":null,"items":null,"ptr":null}`, func(t *testing.T, got decodeTarget) {
			if got.Labels != nil || got.Items != nil || got.Ptr != nil {
				t.Errorf("got %+v, %+v, %+v; want nil", got.Labels, got.Items, got.Ptr)
			}
		}, false},
		{"null keeps scalars", `{"count":null,"on":null,"ratio":null}`, func(t *testing.T, got decodeTarget) {
			expect(t, "count", got.Count, 1)
			expect(t, "on", got.On, true)
			expect(t, "ratio", got.Ratio, 0.5)
		}, false},
		{"whole numbers in any notation", `{"count":3.0,"small":-12,"size":1e3,"ratio":2}`, func(t *testing.T, got decodeTarget) {
			expect(t, "count", got.Count, 3)
			expect(t, "small", got.Small, int8(-12))
			expect(t, "size", got.Size, uint(1000))
			expect(t, "ratio", got.Ratio, 2.0)
		}, true}, // 3.0 and 1e3 are whole numbers, whatever their notation
		{"quantity as a number keeps its text", `{"quantity":1e3}`, func(t *testing.T, got decodeTarget) {
			expect(t, "quantity", got.Quantity, Quantity("1e3"))
		}, false},
		{"quantity as a string", `{"quantity":"500m"}`, func(t *testing.T, got decodeTarget) {
			expect(t, "quantity", got.Quantity, Quantity("500m"))
		}, false},
		{"pointer allocated and merged", `{"ptr":{"path":"/x","periodSeconds":3}}`, func(t *testing.T, got decodeTarget) {
			expectDeep(t, "ptr", got.Ptr, &Probe{Path: "/x", PeriodSeconds: 3})
		}, false},
		{"interface holds plain JSON", `{"any":{"n":1,"l":[true,"s"]}}`, func(t *testing.T, got decodeTarget) {
			expectDeep(t, "any", got.Any, any(map[string]any{"n": 1.0, "l": []any{true, "s"}}))
		}, false},
		{"promoted and untagged fields", `{"promoted":"q","Untagged":"u"}`, func(t *testing.T, got decodeTarget) {
			expect(t, "promoted", got.Promoted, "q")
			expect(t, "untagged", got.Untagged, "u")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ps, _ := decodeInto(t, cloneTarget(defaults), tt.raw)
			if len(ps) > 0 {
				t.Fatalf("unexpected problems:\n%s", listProblems(ps))
			}
			tt.check(t, got)

			if tt.wider {
				return
			}
			// encoding/json is the reference for valid input.
			ref := cloneTarget(defaults)
			if err := json.Unmarshal([]byte(tt.raw), &ref); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			if !reflect.DeepEqual(got, ref) {
				t.Errorf("differs from encoding/json:\n got %+v\nwant %+v", got, ref)
			}
		})
	}
}

// cloneTarget copies the reference-typed defaults so that one case's merge cannot leak into the next.
func cloneTarget(d decodeTarget) decodeTarget {
	d.Labels = maps.Clone(d.Labels)
	d.Items = slices.Clone(d.Items)
	return d
}

func TestDecoderRejectsAndKeepsDefaults(t *testing.T) {
	defaults := decodeTarget{Count: 1, Quantity: "1", Labels: map[string]string{"kept": "yes"}}
	tests := []struct {
		name   string
		raw    string
		want   []want
		failed []string
		check  func(t *testing.T, got decodeTarget)
	}{
		{"out of range for a small int", `{"small":300,"size":-1}`,
			[]want{{"x.size", "-1 is out of range"}, {"x.small", "300 is out of range"}}, []string{"x.size", "x.small"},
			func(t *testing.T, got decodeTarget) { expect(t, "small", got.Small, int8(0)) }},
		{"rejected scalar keeps its default", `{"count":"many","quantity":[1]}`,
			[]want{{"x.count", "expected a whole number, got a string"}, {"x.quantity", "quantity must be"}}, []string{"x.count", "x.quantity"},
			func(t *testing.T, got decodeTarget) {
				expect(t, "count", got.Count, 1)
				expect(t, "quantity", got.Quantity, Quantity("1"))
			}},
		{"rejected map entry is left out, the others are merged", `{"labels":{"bad":1,"good":"g"}}`,
			[]want{{"x.labels.bad", "expected a string, got a number"}}, []string{"x.labels.bad"},
			func(t *testing.T, got decodeTarget) {
				expectDeep(t, "labels", got.Labels, map[string]string{"kept": "yes", "good": "g"})
			}},
		{"rejected list item keeps its index", `{"items":["a",2,"c"]}`,
			[]want{{"x.items[1]", "expected a string, got a number"}}, []string{"x.items[1]"},
			func(t *testing.T, got decodeTarget) { expectDeep(t, "items", got.Items, []string{"a", "", "c"}) }},
		{"unknown keys are not decoding failures", `{"skipped":"s","hidden":"h","cuont":2}`,
			[]want{{"x.cuont", `did you mean "count"?`}, {"x.hidden", "unknown key"}, {"x.skipped", "unknown key"}}, nil,
			func(t *testing.T, got decodeTarget) { expect(t, "count", got.Count, 1) }},
		{"error inside a pointer keeps the rest", `{"ptr":{"periodSeconds":"often"}}`,
			[]want{{"x.ptr.periodSeconds", "expected a whole number"}}, []string{"x.ptr.periodSeconds"},
			func(t *testing.T, got decodeTarget) { expectDeep(t, "ptr", got.Ptr, &Probe{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ps, failed := decodeInto(t, cloneTarget(defaults), tt.raw)
			if len(ps) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(ps), len(tt.want), listProblems(ps))
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(ps, func(p Problem) bool { return p.Key == w.key && strings.Contains(p.Message, w.msg) }) {
					t.Errorf("no problem %s: ...%s... in:\n%s", w.key, w.msg, listProblems(ps))
				}
			}
			slices.Sort(failed)
			if !slices.Equal(failed, tt.failed) {
				t.Errorf("failed paths = %v, want %v", failed, tt.failed)
			}
			tt.check(t, got)
		})
	}
}

// The stack types decode exactly as encoding/json decoded them before, over both profiles.
func TestDecoderMatchesEncodingJSONOnStackTypes(t *testing.T) {
	inputs := []string{
		`{}`,
		`{"image":"` + image + `","replicas":2,"env":{"A":"1"},"volumes":[{"name":"d","mountPath":"/d","size":"1Gi"}]}`,
		`{"autoscaling":{"enabled":true,"customMetrics":{"http_requests_per_second":50,"other":"250m"}},"networkPolicy":{"egressPorts":[53],"allowFromNamespaces":null}}`,
		`{"resources":{"limits":{"cpu":"2"}},"probes":{"startup":{"failureThreshold":60}},"serviceAccount":{"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]}}`,
		`{"env":null,"replicas":null,"ingress":{"annotations":{"a":"b"},"tls":{"enabled":true}}}`,
	}
	for _, env := range []Environment{Dev, Prod} {
		for _, raw := range inputs {
			defaults, err := Defaults(env, "s")
			if err != nil {
				t.Fatal(err)
			}
			got, ps, _ := decodeInto(t, defaults.App, raw)
			if len(ps) > 0 {
				t.Fatalf("%s %s: unexpected problems:\n%s", env, raw, listProblems(ps))
			}
			ref, _ := Defaults(env, "s")
			if err := json.Unmarshal([]byte(raw), &ref.App); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			if !reflect.DeepEqual(got, ref.App) {
				t.Errorf("%s %s: differs from encoding/json:\n got %+v\nwant %+v", env, raw, got, ref.App)
			}
		}
	}
}

func TestWithin(t *testing.T) {
	tests := []struct {
		key, parent string
		want        bool
	}{
		{"nexios:app.image", "nexios:app.image", true},
		{"nexios:app.volumes[0].name", "nexios:app.volumes", true},
		{"nexios:app.volumes[0].name", "nexios:app.volumes[0]", true},
		{"nexios:app.env.A", "nexios:app.env", true},
		{"nexios:app.envFrom", "nexios:app.env", false},
		{"nexios:app.volumes[10]", "nexios:app.volumes[1]", false},
		{"nexios:app", "nexios:app.image", false},
	}
	for _, tt := range tests {
		if got := within(tt.key, tt.parent); got != tt.want {
			t.Errorf("within(%q, %q) = %v, want %v", tt.key, tt.parent, got, tt.want)
		}
	}
}

func expectDeep(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestCountOrPercentTakesNumbersAndStrings(t *testing.T) {
	tests := []struct{ raw, want string }{
		{`1`, "1"},
		{`"1"`, "1"},
		{`"25%"`, "25%"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			settings := map[string]Setting{"nexios:app": {Value: `{"image":"` + image + `","rollout":{"maxSurge":` + tt.raw + `}}`}}
			c, err := Parse("dev", settings)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if string(c.App.Rollout.MaxSurge) != tt.want {
				t.Errorf("maxSurge %q, want %q", c.App.Rollout.MaxSurge, tt.want)
			}
		})
	}
}
