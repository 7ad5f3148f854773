package main

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	nexios "github.com/nexios-labs/nexios-k8s/program"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

func TestJudgePods(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		pods          []podState
		baseline      map[string]int
		notReadySince map[string]time.Time
		want          []string
		wantSince     map[string]time.Time
	}{
		{name: "every pod Ready, no restarts", pods: []podState{{name: "a", ready: true}, {name: "b", ready: true}}},
		{name: "no pods", want: []string{"the Deployment has no pods"}},
		{name: "a restart since the bake began", pods: []podState{{name: "a", ready: true, restarts: 3, why: "container app last exited Error (code 1)"}}, baseline: map[string]int{"a": 1},
			want: []string{"pod a restarted 2 time(s) during the bake: container app last exited Error (code 1)"}},
		{name: "restarts from before the bake are not the release's", pods: []podState{{name: "a", ready: true, restarts: 4}}, baseline: map[string]int{"a": 4}},
		{name: "a pod new since the bake counts from zero", pods: []podState{{name: "new", ready: true, restarts: 1}},
			want: []string{"pod new restarted 1 time(s) during the bake"}},
		{name: "first seen not Ready: the grace starts", pods: []podState{{name: "a"}},
			wantSince: map[string]time.Time{"a": t0}},
		{name: "not Ready within the grace", pods: []podState{{name: "a"}}, notReadySince: map[string]time.Time{"a": t0.Add(-notReadyGrace + time.Second)},
			wantSince: map[string]time.Time{"a": t0.Add(-notReadyGrace + time.Second)}},
		{name: "not Ready for the whole grace", pods: []podState{{name: "a", why: "Ready=False ContainersNotReady"}}, notReadySince: map[string]time.Time{"a": t0.Add(-notReadyGrace)},
			want:      []string{"pod a has not been Ready for 45s: Ready=False ContainersNotReady"},
			wantSince: map[string]time.Time{"a": t0.Add(-notReadyGrace)}},
		{name: "Ready again clears the grace, a pod gone is forgotten", pods: []podState{{name: "a", ready: true}}, notReadySince: map[string]time.Time{"a": t0.Add(-time.Minute), "gone": t0.Add(-time.Minute)},
			wantSince: map[string]time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			since := tt.notReadySince
			if since == nil {
				since = map[string]time.Time{}
			}
			got := judgePods(tt.pods, tt.baseline, since, t0)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems %q, want %q", got, tt.want)
			}
			wantSince := tt.wantSince
			if wantSince == nil {
				wantSince = map[string]time.Time{}
			}
			if !reflect.DeepEqual(since, wantSince) {
				t.Errorf("not Ready since %v, want %v", since, wantSince)
			}
		})
	}
}

func TestJudgeMetrics(t *testing.T) {
	target := verifyTarget{maxErrorRatio: 0.05, maxP95Seconds: 0.5}
	tests := []struct {
		name string
		m    releaseMetrics
		want []string
	}{
		{"good", releaseMetrics{requests: 100, errors: 2, p95: 0.1}, nil},
		{"at the threshold passes", releaseMetrics{requests: 100, errors: 5, p95: 0.5}, nil},
		{"too little traffic to judge", releaseMetrics{requests: minJudgedRequests - 1, errors: minJudgedRequests - 1, p95: 9}, nil},
		{"error ratio above", releaseMetrics{requests: 200, errors: 30, p95: 0.1},
			[]string{"15.0% of the release's 200 requests answered 5xx, above monitoring.alerts.errorRatePercent (5%)"}},
		{"p95 above", releaseMetrics{requests: 40, errors: 0, p95: 0.75},
			[]string{"the release's p95 latency is 0.750 s, above monitoring.alerts.latencyP95Seconds (0.5 s)"}},
		{"both", releaseMetrics{requests: 20, errors: 20, p95: 1},
			[]string{"100.0% of the release's 20 requests answered 5xx, above monitoring.alerts.errorRatePercent (5%)", "the release's p95 latency is 1.000 s, above monitoring.alerts.latencyP95Seconds (0.5 s)"}},
		{"no latency series yet", releaseMetrics{requests: 50, p95: math.NaN()}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := judgeMetrics(tt.m, target); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// scriptedWatcher answers each observation from a script; the last entry repeats.
type scriptedWatcher struct {
	podScript    [][]podState
	metricScript []releaseMetrics
	err          error
	calls        int
	asked        [][]string
}

func (w *scriptedWatcher) pods(context.Context) ([]podState, error) {
	if w.err != nil {
		return nil, w.err
	}
	i := min(w.calls, len(w.podScript)-1)
	w.calls++
	return w.podScript[i], nil
}

func (w *scriptedWatcher) metrics(_ context.Context, pods []string) (releaseMetrics, error) {
	w.asked = append(w.asked, pods)
	return w.metricScript[min(w.calls-1, len(w.metricScript)-1)], nil
}

func TestBake(t *testing.T) {
	ready := []podState{{name: "a", ready: true}, {name: "b", ready: true}}
	good := releaseMetrics{requests: 300, errors: 0, p95: 0.02}
	tests := []struct {
		name         string
		target       verifyTarget
		watcher      *scriptedWatcher
		wantProblems []string
		wantNotes    []string
		wantErr      string
		// wantObservations is how many times the pods were read: the bake ends on the first failure.
		wantObservations int
	}{
		{name: "a good release lasts the bake", target: verifyTarget{bake: time.Minute, metrics: true, maxErrorRatio: 0.05, maxP95Seconds: 0.5},
			watcher: &scriptedWatcher{podScript: [][]podState{ready}, metricScript: []releaseMetrics{good}}, wantObservations: 7},
		{name: "5xx stops the bake at once", target: verifyTarget{bake: time.Minute, metrics: true, maxErrorRatio: 0.05, maxP95Seconds: 0.5},
			watcher:      &scriptedWatcher{podScript: [][]podState{ready}, metricScript: []releaseMetrics{{requests: 5, errors: 5, p95: 0.01}, {requests: 40, errors: 40, p95: 0.01}}},
			wantProblems: []string{"100.0% of the release's 40 requests answered 5xx, above monitoring.alerts.errorRatePercent (5%)"}, wantObservations: 2},
		{name: "a restart stops the bake", target: verifyTarget{bake: time.Minute},
			watcher:      &scriptedWatcher{podScript: [][]podState{ready, ready, {{name: "a", ready: true, restarts: 1}, {name: "b", ready: true}}}},
			wantProblems: []string{"pod a restarted 1 time(s) during the bake"}, wantObservations: 3},
		{name: "too little traffic is a note, not a failure", target: verifyTarget{bake: time.Minute, metrics: true, maxErrorRatio: 0.05, maxP95Seconds: 0.5},
			watcher:   &scriptedWatcher{podScript: [][]podState{ready}, metricScript: []releaseMetrics{{requests: 3, errors: 3, p95: math.NaN()}}},
			wantNotes: []string{"the release served 3 request(s), fewer than 20: its error ratio and latency were not judged"}, wantObservations: 7},
		{name: "without Prometheus only the pods are judged", target: verifyTarget{bake: time.Minute},
			watcher:   &scriptedWatcher{podScript: [][]podState{ready}},
			wantNotes: []string{"no bundled Prometheus (monitoring off or in operator mode): only the pods were judged"}, wantObservations: 7},
		{name: "a pod never Ready fails after the grace", target: verifyTarget{bake: 2 * time.Minute},
			watcher:      &scriptedWatcher{podScript: [][]podState{{{name: "a", ready: true}, {name: "b", why: "Ready=False"}}}},
			wantProblems: []string{"pod b has not been Ready for 50s: Ready=False"}, wantObservations: 6},
		{name: "a cluster error ends the bake with it", target: verifyTarget{bake: time.Minute},
			watcher: &scriptedWatcher{err: errors.New("kubectl: connection refused")}, wantErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			sleep := func(_ context.Context, d time.Duration) error { now = now.Add(d); return nil }
			var lines []string
			problems, notes, err := bake(context.Background(), tt.target, tt.watcher, clock, sleep, func(l string) { lines = append(lines, l) })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(problems, tt.wantProblems) || !reflect.DeepEqual(notes, tt.wantNotes) {
				t.Errorf("problems %q notes %q, want %q and %q", problems, notes, tt.wantProblems, tt.wantNotes)
			}
			if tt.watcher.calls != tt.wantObservations {
				t.Errorf("%d observations, want %d", tt.watcher.calls, tt.wantObservations)
			}
			if tt.target.metrics && len(tt.watcher.asked) > 0 && !reflect.DeepEqual(tt.watcher.asked[0], []string{"a", "b"}) {
				t.Errorf("metrics asked for pods %v, want the release's pods a and b", tt.watcher.asked[0])
			}
			if len(tt.wantProblems) == 0 && (len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "verify: 1m0s of 1m0s:")) {
				t.Errorf("the progress does not end at the bake time: %q", lines)
			}
		})
	}
}

func TestReleaseQueries(t *testing.T) {
	requests, errs, p95 := releaseQueries("nexios", "nexios-dev", []string{"nexios-7c9d-a1", "nexios-7c9d.b2"})
	selector := `job="nexios", namespace="nexios-dev", pod=~"nexios-7c9d-a1|nexios-7c9d\\.b2"`
	for got, want := range map[string]string{
		requests: `sum(http_requests_total{` + selector + `})`,
		errs:     `sum(http_requests_total{` + selector + `, status=~"5.."})`,
		p95:      `histogram_quantile(0.95, sum by (le) (http_request_duration_seconds_bucket{` + selector + `}))`,
	} {
		if got != want {
			t.Errorf("query\n %s\nwant\n %s", got, want)
		}
	}
}

func TestParseInstantQuery(t *testing.T) {
	value := func(v float64) *float64 { return &v }
	tests := []struct {
		name    string
		body    string
		want    *float64
		wantErr string
	}{
		{"one series", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1733054400,"42.5"]}]}}`, value(42.5), ""},
		{"no series yet", `{"status":"success","data":{"resultType":"vector","result":[]}}`, nil, ""},
		{"NaN", `{"status":"success","data":{"result":[{"value":[1,"NaN"]}]}}`, value(math.NaN()), ""},
		{"a bad query", `{"status":"error","errorType":"bad_data","error":"parse error"}`, nil, "Prometheus answered error: parse error"},
		{"not JSON", `wget: server returned error`, nil, "reading Prometheus' answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseInstantQuery([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case (got == nil) != (tt.want == nil):
				t.Errorf("got %v, want %v", got, tt.want)
			case got != nil && !(*got == *tt.want || math.IsNaN(*got) && math.IsNaN(*tt.want)):
				t.Errorf("got %v, want %v", *got, *tt.want)
			}
		})
	}
}

func TestVerifyTargetFor(t *testing.T) {
	outputs := auto.OutputMap{nexios.ExportNamespace: {Value: "nexios-dev"}, nexios.ExportDeploymentName: {Value: "nexios-abc"}}
	config := func(edit func(*stacks.Config)) *stacks.Config {
		c, err := stacks.Defaults(stacks.Dev, "dev")
		if err != nil {
			t.Fatal(err)
		}
		edit(&c)
		return &c
	}
	tests := []struct {
		name    string
		config  *stacks.Config
		outputs auto.OutputMap
		want    verifyTarget
		wantErr string
	}{
		{"bundled monitoring", config(func(*stacks.Config) {}), outputs,
			verifyTarget{namespace: "nexios-dev", deployment: "nexios-abc", job: "nexios", bake: time.Minute, metrics: true, maxErrorRatio: 0.05, maxP95Seconds: 0.5}, ""},
		{"operator mode: pods only", config(func(c *stacks.Config) { c.Monitoring.Mode = "operator"; c.App.Rollout.BakeSeconds = 300 }), outputs,
			verifyTarget{namespace: "nexios-dev", deployment: "nexios-abc", job: "nexios", bake: 5 * time.Minute, maxErrorRatio: 0.05, maxP95Seconds: 0.5}, ""},
		{"monitoring off: pods only", config(func(c *stacks.Config) { c.Monitoring.Enabled = false }), outputs,
			verifyTarget{namespace: "nexios-dev", deployment: "nexios-abc", job: "nexios", bake: time.Minute, maxErrorRatio: 0.05, maxP95Seconds: 0.5}, ""},
		{"outputs without the Deployment", config(func(*stacks.Config) {}), auto.OutputMap{nexios.ExportNamespace: {Value: "nexios-dev"}}, verifyTarget{}, "lack namespace or deploymentName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verifyTargetFor(tt.config, tt.outputs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
