package main

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"gopkg.in/yaml.v3"
)

func TestRollbackTarget(t *testing.T) {
	u := func(version int, kind, result string) auto.UpdateSummary {
		return auto.UpdateSummary{Version: version, Kind: kind, Result: result, StartTime: "t" + strconv.Itoa(version)}
	}
	// Newest first, as the CLI lists them: two updates, a refresh between, a failed update last.
	history := []auto.UpdateSummary{
		u(6, "update", "failed"),
		u(5, "refresh", "succeeded"),
		u(4, "update", "succeeded"),
		u(3, "update", "failed"),
		u(2, "update", "succeeded"),
		u(1, "update", "succeeded"),
	}
	tests := []struct {
		name    string
		history []auto.UpdateSummary
		to      int
		want    int
		wantErr []string
	}{
		{name: "default after a failed update: the last success before it", history: history, want: 4},
		{name: "default skips refreshes and failures", history: []auto.UpdateSummary{u(5, "refresh", "succeeded"), u(4, "update", "succeeded"), u(3, "update", "failed"), u(2, "update", "succeeded")}, want: 2},
		{name: "default in any order", history: []auto.UpdateSummary{u(1, "update", "succeeded"), u(3, "update", "succeeded"), u(2, "update", "succeeded")}, want: 2},
		{name: "default with one update only", history: []auto.UpdateSummary{u(1, "update", "succeeded")}, wantErr: []string{"no successful update before the latest one", "successful updates: 1 (t1)"}},
		{name: "default with no history", history: nil, wantErr: []string{"successful updates: none"}},
		{name: "--to a successful update", history: history, to: 1, want: 1},
		{name: "--to the latest success", history: history, to: 4, want: 4},
		{name: "--to a version not in the history", history: history, to: 9, wantErr: []string{"--to 9", "no version 9", "4 (t4), 2 (t2), 1 (t1)"}},
		{name: "--to a refresh", history: history, to: 5, wantErr: []string{"version 5 is a refresh, not an update", "4 (t4), 2 (t2), 1 (t1)"}},
		{name: "--to a failed update", history: history, to: 3, wantErr: []string{"update 3 did not succeed (failed)", "4 (t4), 2 (t2), 1 (t1)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rollbackTarget(tt.history, tt.to)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("got update %d, want an error", got.Version)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got.Version != tt.want {
				t.Errorf("got update %d, want %d", got.Version, tt.want)
			}
		})
	}
}

func TestNumbered(t *testing.T) {
	tests := []struct {
		name     string
		versions []int
		want     []int
	}{
		{name: "a file backend's history, newest first, numbered from the oldest", versions: []int{0, 0, 0}, want: []int{3, 2, 1}},
		{name: "a service backend's versions kept", versions: []int{9, 7, 4}, want: []int{9, 7, 4}},
		{name: "no history", versions: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var history []auto.UpdateSummary
			for _, v := range tt.versions {
				history = append(history, auto.UpdateSummary{Version: v})
			}
			var got []int
			for _, u := range numbered(history) {
				got = append(got, u.Version)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRollbackArgs(t *testing.T) {
	tests := []struct {
		args    []string
		wantTo  int
		wantErr string
	}{
		{args: []string{"rollback", "dev"}, wantTo: 0},
		{args: []string{"rollback", "prod", "--to", "7", "--allow-destructive", "--confirm", "prod"}, wantTo: 7},
		{args: []string{"rollback", "dev", "--to", "0"}, wantErr: "--to must be an update version"},
		{args: []string{"rollback", "dev", "--to", "-2"}, wantErr: "--to must be an update version"},
		{args: []string{"rollback", "dev", "--to", "two"}, wantErr: "invalid value"},
		{args: []string{"up", "dev", "--to", "3"}, wantErr: "up does not take --to"},
		{args: []string{"rollback", "dev", "--json"}, wantErr: "rollback does not take --json"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseArgs(tt.args, &strings.Builder{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || o.to != tt.wantTo {
				t.Errorf("got to=%d err=%v, want to=%d", o.to, err, tt.wantTo)
			}
		})
	}
}

func TestDifferingKeys(t *testing.T) {
	tests := []struct {
		name            string
		current, target auto.ConfigMap
		want            string
	}{
		{name: "objects equal up to key order and spacing",
			current: auto.ConfigMap{"nexios:app": {Value: `{"image":"a","env":{"X":"1"}}`}},
			target:  auto.ConfigMap{"nexios:app": {Value: `{"env": {"X": "1"}, "image": "a"}`}},
			want:    "none"},
		{name: "a changed value, a removed key and an added key",
			current: auto.ConfigMap{"nexios:app": {Value: `{"image":"a"}`}, "nexios:target": {Value: `{"namespace":"x"}`}},
			target:  auto.ConfigMap{"nexios:app": {Value: `{"image":"b"}`}, "nexios:databaseUrl": {Value: "s", Secret: true}},
			want:    "nexios:app, nexios:databaseUrl, nexios:target"},
		{name: "plain strings", current: auto.ConfigMap{"nexios:environment": {Value: "dev"}}, target: auto.ConfigMap{"nexios:environment": {Value: "prod"}}, want: "nexios:environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describeKeys(differingKeys(tt.current, tt.target)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPlainNode(t *testing.T) {
	tests := []struct {
		value, want string
	}{
		{value: `{"image":"a:1","replicas":2,"env":{"LOG_LEVEL":"info"}}`, want: "env:\n    LOG_LEVEL: info\nimage: a:1\nreplicas: 2\n"},
		{value: "dev", want: "dev\n"},
		// A string that only looks like a number stays a string.
		{value: "3", want: "\"3\"\n"},
		{value: "{not json", want: "'{not json'\n"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			node, err := plainNode(tt.value)
			if err != nil {
				t.Fatal(err)
			}
			out, err := yaml.Marshal(node)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got %q, want %q", out, tt.want)
			}
		})
	}
}
