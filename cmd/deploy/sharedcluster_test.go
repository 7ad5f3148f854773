package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/program"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// fakeCluster answers reads from a map of "resource/name" to what the cluster holds.
type fakeCluster map[string]observed

func (f fakeCluster) read(_ context.Context, claims []program.Claim) ([]observed, error) {
	seen := make([]observed, len(claims))
	for i, c := range claims {
		if c.Name == "unreachable" {
			return nil, errors.New("connection refused")
		}
		seen[i] = f[c.Resource+"/"+c.Name]
	}
	return seen, nil
}

var (
	claimApp        = program.Claim{Resource: "namespace", Name: "nexios-staging-dev", Key: "target.namespace", Type: program.TypeNamespace}
	claimMonitoring = program.Claim{Resource: "namespace", Name: "monitoring", Key: "monitoring.namespace", Type: program.TypeNamespace}
	claimAPI        = program.Claim{Resource: "apiservice", Name: "v1beta1.custom.metrics.k8s.io", Key: "app.autoscaling.customMetrics", Type: program.TypeAPIService}
)

func TestFindConflicts(t *testing.T) {
	const self = "nexios.staging-dev"
	tests := []struct {
		name    string
		cluster fakeCluster
		state   []string
		claims  []program.Claim
		// want lists the conflicting claims' names with their owners; stateReads how often the state was read.
		want       []string
		stateReads int
		err        string
	}{
		{"nothing there yet", fakeCluster{}, nil, []program.Claim{claimApp, claimMonitoring, claimAPI}, nil, 0, ""},
		{"this stack's own", fakeCluster{"namespace/monitoring": {true, self}, "apiservice/v1beta1.custom.metrics.k8s.io": {true, self}},
			nil, []program.Claim{claimMonitoring, claimAPI}, nil, 0, ""},
		{"another stack's namespace and API", fakeCluster{"namespace/monitoring": {true, "nexios.dev"}, "apiservice/v1beta1.custom.metrics.k8s.io": {true, "shop.prod"}},
			nil, []program.Claim{claimApp, claimMonitoring, claimAPI}, []string{"monitoring=nexios.dev", "v1beta1.custom.metrics.k8s.io=shop.prod"}, 0, ""},
		{"unlabelled, in this stack's state (deployed before the label)", fakeCluster{"namespace/monitoring": {true, ""}},
			[]string{program.TypeNamespace + " monitoring"}, []program.Claim{claimMonitoring}, nil, 1, ""},
		{"unlabelled, not in this stack's state", fakeCluster{"namespace/monitoring": {true, ""}, "apiservice/v1beta1.custom.metrics.k8s.io": {true, ""}},
			[]string{program.TypeNamespace + " nexios-staging-dev"}, []program.Claim{claimMonitoring, claimAPI}, []string{"monitoring=", "v1beta1.custom.metrics.k8s.io="}, 1, ""},
		{"cluster unreachable", fakeCluster{}, nil, []program.Claim{{Resource: "namespace", Name: "unreachable"}}, nil, 0, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reads := 0
			inState := func() (map[string]bool, error) {
				reads++
				state := map[string]bool{}
				for _, k := range tt.state {
					state[k] = true
				}
				return state, nil
			}
			conflicts, err := findConflicts(context.Background(), tt.cluster, self, tt.claims, inState)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want an error with %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range conflicts {
				got = append(got, c.claim.Name+"="+c.owner)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("conflicts %v, want %v", got, tt.want)
			}
			if reads != tt.stateReads {
				t.Errorf("state read %d times, want %d", reads, tt.stateReads)
			}
		})
	}
}

func TestSharedClusterErrorNamesOwnerKeyAndFix(t *testing.T) {
	cfg := &stacks.Config{Target: stacks.Target{Namespace: "nexios-staging-dev"}, Monitoring: stacks.Monitoring{Namespace: "monitoring"}}
	err := sharedClusterError("staging-dev", "nexios.staging-dev", cfg, []conflict{
		{claim: claimMonitoring, owner: "nexios.dev"},
		{claim: claimAPI, owner: "nexios.dev"},
		{claim: claimApp},
	})
	for _, want := range []string{
		`stack "staging-dev" (nexios.staging-dev) would take over objects of another stack on this cluster (nothing was changed)`,
		"namespace monitoring (nexios:monitoring.namespace: monitoring) belongs to stack nexios.dev (its label nexios.dev/stack=nexios.dev)",
		"`pulumi config set --path 'nexios:monitoring.namespace' monitoring-staging-dev -s staging-dev`",
		"APIService v1beta1.custom.metrics.k8s.io, the custom metrics API that nexios:app.autoscaling.customMetrics needs, belongs to stack nexios.dev",
		"`pulumi config rm --path 'nexios:app.autoscaling.customMetrics' -s staging-dev`",
		"namespace nexios-staging-dev (nexios:target.namespace: nexios-staging-dev) exists without a nexios.dev/stack label and is not in stack staging-dev's state",
		"`pulumi config set --path 'nexios:target.namespace' nexios-staging-dev-staging-dev -s staging-dev`",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestClaimedInState(t *testing.T) {
	deployment := `{"resources": [
		{"type": "kubernetes:core/v1:Namespace", "outputs": {"metadata": {"name": "monitoring"}}},
		{"type": "kubernetes:apiregistration.k8s.io/v1:APIService", "outputs": {"metadata": {"name": "v1beta1.custom.metrics.k8s.io"}}},
		{"type": "kubernetes:apps/v1:Deployment", "outputs": {"metadata": {"name": "nexios-abc"}}},
		{"type": "kubernetes:core/v1:Namespace", "outputs": {}}
	]}`
	got, err := claimedInState([]byte(deployment))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{program.TypeNamespace + " monitoring": true, program.TypeAPIService + " v1beta1.custom.metrics.k8s.io": true}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Errorf("%q missing from %v", k, got)
		}
	}
	if empty, err := claimedInState(nil); err != nil || len(empty) != 0 {
		t.Errorf("a new stack's empty state: %v %v", empty, err)
	}
}

// TestKubectlReader runs the reader against a stand-in kubectl that prints what the real one does for
// `get --ignore-not-found -o json`: nothing when no object is found, the object itself when one was
// asked for, a List of those found when several were.
func TestKubectlReader(t *testing.T) {
	dir := t.TempDir()
	kubectl := filepath.Join(dir, "kubectl")
	script := `#!/bin/sh
echo "$@" > "` + filepath.Join(dir, "args") + `"
monitoring='{"kind":"Namespace","metadata":{"name":"monitoring","labels":{"nexios.dev/stack":"nexios.dev"}}}'
bare='{"kind":"Namespace","metadata":{"name":"bare"}}'
api='{"kind":"APIService","metadata":{"name":"monitoring","labels":{"nexios.dev/stack":"shop.prod"}}}'
case "$2 $3" in
  "namespace/monitoring --ignore-not-found") echo "$monitoring" ;;
  "namespace/bare --ignore-not-found") echo "$bare" ;;
  "namespace/monitoring namespace/bare") echo "{\"kind\":\"List\",\"items\":[$monitoring,$bare]}" ;;
  "namespace/monitoring apiservice/monitoring") echo "{\"kind\":\"List\",\"items\":[$api]}" ;;
  "namespace/broken --ignore-not-found") echo 'error: You must be logged in to the server (Unauthorized)' >&2; exit 1 ;;
  "namespace/garbled --ignore-not-found") echo '{"kind":' ;;
esac
`
	if err := os.WriteFile(kubectl, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := kubectlReader{kubectl: kubectl, env: os.Environ()}
	namespace := func(name string) program.Claim { return program.Claim{Resource: "namespace", Name: name} }
	tests := []struct {
		name   string
		claims []program.Claim
		want   []observed
		err    string
	}{
		{"another stack's", []program.Claim{namespace("monitoring")}, []observed{{true, "nexios.dev"}}, ""},
		{"unlabelled", []program.Claim{namespace("bare")}, []observed{{true, ""}}, ""},
		{"absent", []program.Claim{namespace("absent")}, []observed{{}}, ""},
		{"several, all found", []program.Claim{namespace("monitoring"), namespace("bare")}, []observed{{true, "nexios.dev"}, {true, ""}}, ""},
		// Only the APIService is found, and an absent namespace has its name: a match needs kind and name.
		{"several, one found", []program.Claim{namespace("monitoring"), {Resource: "apiservice", Name: "monitoring"}}, []observed{{}, {true, "shop.prod"}}, ""},
		{"several, none found", []program.Claim{namespace("absent"), namespace("gone")}, []observed{{}, {}}, ""},
		{"refused", []program.Claim{namespace("broken")}, nil, "reading namespace/broken from the cluster: exit status 1: error: You must be logged in"},
		{"unreadable output", []program.Claim{namespace("garbled")}, nil, "reading namespace/garbled from the cluster: unexpected end of JSON input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.read(context.Background(), tt.claims)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want an error with %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("read = %+v, %v; want %+v", got, err, tt.want)
			}
			args, _ := os.ReadFile(filepath.Join(dir, "args"))
			want := "get"
			for _, c := range tt.claims {
				want += " " + c.Resource + "/" + c.Name
			}
			if want += " --ignore-not-found -o json"; strings.TrimSpace(string(args)) != want {
				t.Errorf("kubectl %s, want %s: one run for every claim", args, want)
			}
		})
	}
}
