package devcluster

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestNormalizedRef(t *testing.T) {
	tests := map[string]string{
		"prom/prometheus:v3.5.0":                           "docker.io/prom/prometheus:v3.5.0",
		"busybox:1.36":                                     "docker.io/library/busybox:1.36",
		"registry.k8s.io/pause:3.10.2":                     "registry.k8s.io/pause:3.10.2",
		"localhost/app:1":                                  "localhost/app:1",
		"ghcr.io/nexios-labs/nexios-example-app:0.1.0":     "ghcr.io/nexios-labs/nexios-example-app:0.1.0",
		"registry.local:5000/team/app:2":                   "registry.local:5000/team/app:2",
		"docker.io/grafana/grafana:12.0.0":                 "docker.io/grafana/grafana:12.0.0",
		"quay.io/prometheus/busybox@sha256:0123456789abcd": "quay.io/prometheus/busybox@sha256:0123456789abcd",
	}
	for ref, want := range tests {
		if got := normalizedRef(ref); got != want {
			t.Errorf("normalizedRef(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestPlacementPolicyNamesEveryFormOfEachLocalImage(t *testing.T) {
	policy, binding := placementPolicyObjects([]string{"prom/prometheus:v3.5.0", "registry.k8s.io/pause:3.10.2"})
	if binding.Spec.PolicyName != policy.Name {
		t.Errorf("binding names policy %q, want %q", binding.Spec.PolicyName, policy.Name)
	}
	if len(policy.Spec.MatchConditions) != 1 {
		t.Fatalf("%d match conditions, want 1", len(policy.Spec.MatchConditions))
	}
	condition := policy.Spec.MatchConditions[0].Expression
	for _, want := range []string{`"prom/prometheus:v3.5.0"`, `"docker.io/prom/prometheus:v3.5.0"`, `"registry.k8s.io/pause:3.10.2"`, "initContainers"} {
		if !strings.Contains(condition, want) {
			t.Errorf("match condition %s lacks %s", condition, want)
		}
	}
	if strings.Count(condition, `"registry.k8s.io/pause:3.10.2"`) != 2 {
		t.Errorf("an already normalized reference is listed more than once per list: %s", condition)
	}
	if len(policy.Spec.Mutations) != 1 || policy.Spec.Mutations[0].JSONPatch == nil {
		t.Fatalf("mutations %+v, want one JSON patch", policy.Spec.Mutations)
	}
	patch := policy.Spec.Mutations[0].JSONPatch.Expression
	// The toleration and the selector are added to the pod's own, never replacing them.
	for _, want := range []string{`"/spec/tolerations/-"`, realNodeTaint, `"/spec/nodeSelector/nexios.dev~1real-node"`} {
		if !strings.Contains(patch, want) {
			t.Errorf("patch %q lacks %s", patch, want)
		}
	}
}

func TestRealNodeAPIServerFlags(t *testing.T) {
	o := validOptions()
	o.BinDir = t.TempDir()
	for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok"} {
		if err := os.WriteFile(filepath.Join(o.BinDir, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if config := renderKwokctlConfig(t, o); len(config.ComponentsPatches) != 1 || len(config.Options.KubeApiserverCertSANs) != 0 {
		t.Errorf("a simulated-only cluster patches more than kube-controller-manager: %+v", config)
	}
	o.RealNodes = 1
	config := renderKwokctlConfig(t, o)
	args, sans := componentFlags(config, "kube-apiserver"), config.Options.KubeApiserverCertSANs
	want := map[string]string{
		"bind-address":                    "0.0.0.0",
		"advertise-address":               hostLinkIP,
		"service-cluster-ip-range":        serviceCIDR,
		"kubelet-preferred-address-types": "InternalIP",
		"requestheader-username-headers":  "X-Remote-User",
		"enable-aggregator-routing":       "true",
	}
	for key, value := range want {
		if args[key] != value {
			t.Errorf("--%s = %q, want %q", key, args[key], value)
		}
	}
	for _, key := range []string{"kubelet-client-certificate", "kubelet-client-key", "requestheader-client-ca-file"} {
		if !strings.HasPrefix(args[key], o.pkiDir()) {
			t.Errorf("--%s = %q, want a file of the cluster's PKI", key, args[key])
		}
	}
	if kwok := componentFlags(config, "kwok-controller"); kwok["manage-all-nodes"] != "false" || kwok["manage-nodes-with-annotation-selector"] != kwokNodeAnnotation+"=fake" {
		t.Errorf("kwok-controller flags %v: it must leave the real node to its kubelet", kwok)
	}
	// Pods verify the server by the Service address and the host end of the node's link.
	if !slices.Contains(sans, kubernetesServiceIP) || !slices.Contains(sans, hostLinkIP) {
		t.Errorf("certificate SANs %v lack %s or %s", sans, kubernetesServiceIP, hostLinkIP)
	}
}

func TestKwokNodesOfARealNodeClusterAreUnreachable(t *testing.T) {
	o := validOptions()
	o.RealNodes = 1
	nodes, err := o.nodes()
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range nodes {
		address := node.Status.Addresses[0].Address
		if !strings.HasPrefix(address, "10.253.0.") || address == hostLinkIP || address == nodeIP {
			t.Errorf("kwok node %s has address %s, want an unused one on the real node's link %s", node.Name, address, linkCIDR)
		}
	}
}

func TestKubeletConfig(t *testing.T) {
	o := validOptions()
	data, err := o.kubeletConfig()
	if err != nil {
		t.Fatal(err)
	}
	var config map[string]any
	if err := yaml.Unmarshal(data, &config); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"failCgroupV1":                false,
		"cgroupDriver":                "cgroupfs",
		"cgroupRoot":                  "/nexios-nexios",
		"address":                     nodeIP,
		"resolvConf":                  "",
		"imageGCHighThresholdPercent": float64(100),
		"containerRuntimeEndpoint":    "unix:///run/nexios/nexios/containerd.sock",
	}
	for key, value := range want {
		if config[key] != value {
			t.Errorf("%s = %#v, want %#v", key, config[key], value)
		}
	}
	if dns, _ := config["clusterDNS"].([]any); len(dns) != 1 || dns[0] != clusterDNSIP {
		t.Errorf("clusterDNS = %v, want [%s]", config["clusterDNS"], clusterDNSIP)
	}
	if taints, _ := config["registerWithTaints"].([]any); len(taints) != 1 {
		t.Errorf("registerWithTaints = %v, want the real node's taint", config["registerWithTaints"])
	}
}

func TestContainerdConfigKeepsEverythingInTheClustersFolders(t *testing.T) {
	o := validOptions()
	config := o.containerdConfig("registry.k8s.io/pause:3.10.2")
	for _, want := range []string{
		`root = "/project/.cluster/nexios/node/containerd"`,
		`state = "/run/nexios/nexios/containerd"`,
		`sandbox = "registry.k8s.io/pause:3.10.2"`,
		`BinaryName = "/project/bin/runc"`,
		"netns_mounts_under_state_dir = true",
		"'io.containerd.internal.v1.opt'",
		"'io.containerd.nri.v1.nri'",
	} {
		if !strings.Contains(config, want) {
			t.Errorf("containerd configuration lacks %s:\n%s", want, config)
		}
	}
}

func TestCNIConfig(t *testing.T) {
	data, err := validOptions().cniConfig()
	if err != nil {
		t.Fatal(err)
	}
	var config struct {
		Plugins []struct {
			Type   string `json:"type"`
			IPMasq bool   `json:"ipMasq"`
			IPAM   struct {
				Ranges [][]struct{ Subnet string } `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(data, &config); err != nil {
		t.Fatal(err)
	}
	if len(config.Plugins) != 2 || config.Plugins[0].Type != "bridge" || config.Plugins[1].Type != "portmap" {
		t.Fatalf("plugins %+v, want bridge then portmap", config.Plugins)
	}
	if got := config.Plugins[0].IPAM.Ranges[0][0].Subnet; got != podCIDR {
		t.Errorf("pod subnet %s, want %s", got, podCIDR)
	}
}

func TestDockerArchiveTags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := tar.NewWriter(f)
	manifest := []byte(`[{"Config":"sha256:abc","RepoTags":["prom/prometheus:v3.5.0"],"Layers":[]}]`)
	if err := w.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest))}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(manifest); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tags, err := dockerArchiveTags(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"prom/prometheus:v3.5.0"}) {
		t.Errorf("tags %v", tags)
	}
	if _, err := dockerArchiveTags(filepath.Join(t.TempDir(), "missing.tar")); err == nil {
		t.Error("a missing tarball gave no error")
	}
}

func TestUnescapeMountPath(t *testing.T) {
	tests := map[string]string{
		`/plain/path`:       "/plain/path",
		`/with\040space`:    "/with space",
		`/tab\011and\134bs`: "/tab\tand\\bs",
		`/trailing\04`:      `/trailing\04`,
	}
	for in, want := range tests {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// renderKwokctlConfig renders and parses the cluster's kwokctl configuration.
func renderKwokctlConfig(t *testing.T, o Options) kwokctlConfiguration {
	t.Helper()
	data, err := o.kwokctlConfigYAML()
	if err != nil {
		t.Fatal(err)
	}
	var config kwokctlConfiguration
	if err := yaml.Unmarshal(data, &config); err != nil {
		t.Fatal(err)
	}
	return config
}

// componentFlags returns the extra flags config gives component.
func componentFlags(config kwokctlConfiguration, component string) map[string]string {
	args := map[string]string{}
	for _, patch := range config.ComponentsPatches {
		if patch.Name == component {
			for _, a := range patch.ExtraArgs {
				args[a.Key] = a.Value
			}
		}
	}
	return args
}

// TestCheckSocketRoom: the kubelet's deepest socket must fit in a unix socket's 107 bytes; one byte
// more is refused before anything starts, naming the state folder and the fix.
func TestCheckSocketRoom(t *testing.T) {
	// "/node/kubelet/pod-resources/4294967295" after STATE/NAME.
	const tail = len("/node/kubelet/pod-resources/4294967295")
	for _, tt := range []struct {
		name      string
		stateDir  string
		wantError bool
	}{
		{"short", "/tmp/state", false},
		{"exactly 107 bytes", "/" + strings.Repeat("s", maxSocketPath-tail-len("/c")-1), false},
		{"108 bytes", "/" + strings.Repeat("s", maxSocketPath-tail-len("/c")), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Options{Name: "c", StateDir: tt.stateDir}.checkSocketRoom()
			if (err != nil) != tt.wantError || (err != nil && !strings.Contains(err.Error(), "use a shorter -state-dir or cluster name (1 bytes too many)")) {
				t.Errorf("checkSocketRoom(%d-byte state folder) = %v, want an error: %v", len(tt.stateDir), err, tt.wantError)
			}
		})
	}
}
