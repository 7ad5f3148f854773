package devcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func validOptions() Options {
	return Options{
		Name:       "nexios",
		StateDir:   "/project/.cluster",
		BinDir:     "/project/bin",
		Nodes:      3,
		NodeCPU:    "4",
		NodeMemory: "16Gi",
		NodePods:   110,
		Region:     "local",
		Zones:      []string{"zone-a", "zone-b", "zone-c"},
		Timeout:    time.Minute,
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr []string
	}{
		{name: "valid", change: func(*Options) {}},
		{name: "name not a DNS label", change: func(o *Options) { o.Name = "Nexios_Dev" }, wantErr: []string{`name "Nexios_Dev"`}},
		{name: "no nodes", change: func(o *Options) { o.Nodes = 0 }, wantErr: []string{"nodes: 0"}},
		{name: "too many nodes", change: func(o *Options) { o.Nodes = 255 }, wantErr: []string{"nodes: 255"}},
		{name: "cpu not a quantity", change: func(o *Options) { o.NodeCPU = "four" }, wantErr: []string{`node-cpu "four"`}},
		{name: "memory zero", change: func(o *Options) { o.NodeMemory = "0" }, wantErr: []string{`node-memory "0": must be positive`}},
		{name: "one real node", change: func(o *Options) { o.RealNodes = 1 }},
		{name: "two real nodes", change: func(o *Options) { o.RealNodes = 2 }, wantErr: []string{"real-nodes: 2, want 0 or 1"}},
		{name: "negative real nodes", change: func(o *Options) { o.RealNodes = -1 }, wantErr: []string{"real-nodes: -1"}},
		{
			name:    "every problem reported at once",
			change:  func(o *Options) { o.StateDir, o.BinDir, o.NodePods, o.Zones = "", "", 0, nil },
			wantErr: []string{"state-dir", "bin-dir", "node-pods", "zones"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOptions()
			tt.change(&o)
			err := o.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors mentioning %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %v, want it to mention %q", err, want)
				}
			}
		})
	}
}

func TestNodesSpreadOverZones(t *testing.T) {
	tests := []struct {
		nodes     int
		wantZones []string
	}{
		{nodes: 1, wantZones: []string{"zone-a"}},
		{nodes: 3, wantZones: []string{"zone-a", "zone-b", "zone-c"}},
		{nodes: 5, wantZones: []string{"zone-a", "zone-b", "zone-c", "zone-a", "zone-b"}},
	}
	for _, tt := range tests {
		o := validOptions()
		o.Nodes = tt.nodes
		nodes, err := o.nodes()
		if err != nil {
			t.Fatalf("nodes() with %d nodes: %v", tt.nodes, err)
		}
		var zones []string
		for _, n := range nodes {
			zones = append(zones, n.Labels[corev1.LabelTopologyZone])
		}
		if strings.Join(zones, ",") != strings.Join(tt.wantZones, ",") {
			t.Errorf("%d nodes: zones %v, want %v", tt.nodes, zones, tt.wantZones)
		}
	}
}

func TestNodeShape(t *testing.T) {
	nodes, err := validOptions().nodes()
	if err != nil {
		t.Fatalf("nodes(): %v", err)
	}
	node := nodes[1]
	checks := map[string]string{
		"name":        node.Name,
		"hostname":    node.Labels[corev1.LabelHostname],
		"region":      node.Labels[corev1.LabelTopologyRegion],
		"kwok":        node.Annotations["kwok.x-k8s.io/node"],
		"cpu":         node.Status.Allocatable.Cpu().String(),
		"memory":      node.Status.Allocatable.Memory().String(),
		"pods":        node.Status.Allocatable.Pods().String(),
		"disk":        node.Status.Allocatable.StorageEphemeral().String(),
		"capacityCPU": node.Status.Capacity.Cpu().String(),
	}
	want := map[string]string{
		"name":        "nexios-node-1",
		"hostname":    "nexios-node-1",
		"region":      "local",
		"kwok":        "fake",
		"cpu":         "4",
		"memory":      "16Gi",
		"pods":        "110",
		"disk":        "1Ti",
		"capacityCPU": "4",
	}
	for key, got := range checks {
		if got != want[key] {
			t.Errorf("%s = %q, want %q", key, got, want[key])
		}
	}
}

// withBinaries returns options whose bin-dir holds empty stand-ins for the
// binaries kwokctl is given.
func withBinaries(t *testing.T, names ...string) Options {
	t.Helper()
	o := validOptions()
	o.BinDir = t.TempDir()
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(o.BinDir, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

var kwokctlBinaries = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok"}

func TestKwokctlConfigKeepsEverythingLocal(t *testing.T) {
	o := withBinaries(t, kwokctlBinaries...)
	data, err := o.kwokctlConfigYAML()
	if err != nil {
		t.Fatalf("kwokctlConfigYAML(): %v", err)
	}
	var got kwokctlConfiguration
	if err := yaml.UnmarshalStrict(data, &got); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
	if got.Kind != "KwokctlConfiguration" || got.Options.Runtime != "binary" {
		t.Errorf("kind %q runtime %q, want KwokctlConfiguration with the binary runtime", got.Kind, got.Options.Runtime)
	}
	if got.Options.BindAddress != "127.0.0.1" {
		t.Errorf("bindAddress %q, want loopback", got.Options.BindAddress)
	}
	// An empty binary path makes kwokctl download that binary.
	paths := map[string]string{
		"kube-apiserver":          got.Options.KubeApiserverBinary,
		"kube-controller-manager": got.Options.KubeControllerManagerBinary,
		"kube-scheduler":          got.Options.KubeSchedulerBinary,
		"etcd":                    got.Options.EtcdBinary,
		"kwok":                    got.Options.KwokControllerBinary,
	}
	for _, name := range kwokctlBinaries {
		if want := filepath.Join(o.BinDir, name); paths[name] != want {
			t.Errorf("%s binary = %q, want %q", name, paths[name], want)
		}
	}
}

func TestKwokctlConfigNamesMissingBinaries(t *testing.T) {
	o := withBinaries(t, "kube-apiserver", "kube-controller-manager", "kube-scheduler")
	_, err := o.kwokctlConfigYAML()
	if err == nil {
		t.Fatal("kwokctlConfigYAML() = nil error with etcd and kwok missing")
	}
	for _, want := range []string{"etcd", "kwok", "make tools"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
