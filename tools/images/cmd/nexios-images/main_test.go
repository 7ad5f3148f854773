package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run([]string{"list", "-bin-dir", "bin", "-coredns-version", "1.12.1", "-pause-version", "3.10"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	for _, want := range []string{
		"prom/prometheus:v3.5.0\tbin/images/prometheus.tar",
		"registry.k8s.io/coredns/coredns:v1.12.1\tbin/images/coredns.tar",
		"registry.k8s.io/pause:3.10\tbin/images/pause.tar",
		"ghcr.io/nexios-labs/nexios-example-app:0.1.0\tbin/images/nexios-example-app.tar",
	} {
		found := false
		for _, line := range lines {
			found = found || line == want
		}
		if !found {
			t.Errorf("list printed %q, want a line %q", lines, want)
		}
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"build"},
		{"list"},
		{"push", "-bin-dir", "bin"},
		{"build", "-bin-dir", "bin", "-epoch", "yesterday"},
		{"build", "-bin-dir", "bin", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(args, &stdout, &stderr); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
