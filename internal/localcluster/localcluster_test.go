package localcluster

import (
	"context"
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

func TestArgs(t *testing.T) {
	tc := toolchain.Toolchain{Root: "/project"}
	common := "-name dev -state-dir /project/.cluster -bin-dir /project/bin"
	tests := []struct {
		name    string
		cluster Cluster
		command string
		want    string
	}{
		{name: "up with defaults", cluster: Cluster{Toolchain: tc, Name: "dev"}, command: "up", want: "up " + common},
		{
			name:    "up with sizes",
			cluster: Cluster{Toolchain: tc, Name: "dev", Nodes: 5, NodeCPU: "2", NodeMemory: "8Gi"},
			command: "up",
			want:    "up " + common + " -nodes 5 -node-cpu 2 -node-memory 8Gi",
		},
		{
			name:    "sizes only matter to up",
			cluster: Cluster{Toolchain: tc, Name: "dev", Nodes: 5},
			command: "down",
			want:    "down " + common,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(tt.cluster.args(tt.command), " "); got != tt.want {
				t.Errorf("args(%q) = %q, want %q", tt.command, got, tt.want)
			}
		})
	}
}

func TestParseState(t *testing.T) {
	tests := []struct {
		out     string
		want    State
		wantErr bool
	}{
		{out: "running\n", want: Running},
		{out: "stopped\n", want: Stopped},
		{out: "absent\n", want: Absent},
		{out: "", wantErr: true},
		{out: "Running\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseState(tt.out)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseState(%q) = %q, %v; want %q, error %v", tt.out, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestStartWithoutToolsNamesMakeTools(t *testing.T) {
	c := Cluster{Toolchain: toolchain.Toolchain{Root: t.TempDir()}, Name: "dev"}
	err := c.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Errorf("Start() without tools = %v, want an error naming `make tools`", err)
	}
}
