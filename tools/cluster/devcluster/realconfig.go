package devcluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// realNodeName is the real node's name, beside the kwok nodes' <name>-node-<i>.
func (o Options) realNodeName() string { return o.Name + "-real-0" }

// The real node's label and taint: only pods whose every image exists on the
// node are let onto it (see placement.go), and the rest go to kwok nodes.
const (
	realNodeLabel = "nexios.dev/real-node"
	realNodeTaint = "nexios.dev/real-node"
)

// nodeDir holds the real node's data: the container runtime's images and
// snapshots, the kubelet's root folder, logs and generated configuration.
func (o Options) nodeDir() string    { return filepath.Join(o.Dir(), "node") }
func (o Options) nodeLogDir() string { return filepath.Join(o.nodeDir(), "logs") }

// nodeRunDir holds what a reboot would clear: sockets, the runtime's state,
// pid files. Under /run, not the project folder, because unix socket paths
// are limited to 108 bytes and a checkout's path may be long.
func (o Options) nodeRunDir() string { return filepath.Join("/run/nexios", o.Name) }

func (o Options) containerdSocket() string {
	return filepath.Join(o.nodeRunDir(), "containerd.sock")
}

func (o Options) absBinDir() string {
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		return o.BinDir
	}
	return bin
}

func (o Options) pkiDir() string { return filepath.Join(o.kwokClusterDir(), "pki") }

// containerdConfig is containerd's configuration (version 3, containerd 2.x).
// Every path it writes is inside nodeDir or nodeRunDir, and the plugins that
// would write elsewhere (/opt, /var/run/nri, /etc/cdi) are off.
func (o Options) containerdConfig(sandboxImage string) string {
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q
disabled_plugins = [
  'io.containerd.internal.v1.opt',
  'io.containerd.nri.v1.nri',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.blockfile',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = ''

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %[5]q

[plugins.'io.containerd.cri.v1.runtime']
  # The pods' network namespaces are mounted under state, so removing the
  # node finds and unmounts them.
  netns_mounts_under_state_dir = true
  # The kubelet asks for negative OOM scores (-998 for the pause container),
  # which need CAP_SYS_RESOURCE; sandboxed machines like this one may lack
  # it, and runc then fails every pod. Scores are kept at containerd's own
  # (0) or above instead.
  restrict_oom_score_adj = true
  cdi_spec_dirs = []
  tolerate_missing_hugetlb_controller = true
  disable_hugetlb_controller = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = %[6]q
        Root = %[7]q
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%[8]q]
    conf_dir = %[9]q
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
`,
		filepath.Join(o.nodeDir(), "containerd"),
		filepath.Join(o.nodeRunDir(), "containerd"),
		o.containerdSocket(),
		filepath.Join(o.nodeRunDir(), "containerd-ttrpc.sock"),
		sandboxImage,
		filepath.Join(o.absBinDir(), "runc"),
		filepath.Join(o.nodeRunDir(), "runc"),
		filepath.Join(o.absBinDir(), "cni"),
		o.cniConfDir(),
	)
}

func (o Options) cniConfDir() string { return filepath.Join(o.nodeDir(), "cni", "net.d") }

// cniConfig is the pod network: one Linux bridge in the node's namespace,
// addresses from podCIDR, the bridge as the pods' gateway, hostPort support.
// No masquerade: every destination a pod can reach is on this node or is the
// host end of its link, which routes podCIDR back.
func (o Options) cniConfig() ([]byte, error) {
	config := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "nexios",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      podBridge,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": podCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(o.nodeRunDir(), "cni-ipam"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render CNI configuration: %w", err)
	}
	return data, nil
}

// kubeletConfig is the real node's KubeletConfiguration.
func (o Options) kubeletConfig() ([]byte, error) {
	config := map[string]any{
		"apiVersion": "kubelet.config.k8s.io/v1beta1",
		"kind":       "KubeletConfiguration",
		// This machine runs cgroup v1, which kubelet 1.35+ refuses unless
		// told otherwise; cgroupfs because no systemd manages the node.
		"failCgroupV1":             false,
		"cgroupDriver":             "cgroupfs",
		"cgroupRoot":               o.cgroupRoot(),
		"containerRuntimeEndpoint": "unix://" + o.containerdSocket(),
		"address":                  nodeIP,
		"port":                     10250,
		"readOnlyPort":             0,
		"healthzBindAddress":       "127.0.0.1",
		"healthzPort":              10248,
		"authentication": map[string]any{
			"anonymous": map[string]bool{"enabled": false},
			"webhook":   map[string]bool{"enabled": true},
			"x509":      map[string]string{"clientCAFile": filepath.Join(o.pkiDir(), "ca.crt")},
		},
		"authorization": map[string]string{"mode": "Webhook"},
		"clusterDNS":    []string{clusterDNSIP},
		"clusterDomain": clusterDomain,
		// No upstream resolver: the host's would send queries off the
		// machine, and the node has no route there anyway.
		"resolvConf":         "",
		"podLogsDir":         filepath.Join(o.nodeDir(), "pod-logs"),
		"failSwapOn":         false,
		"registerWithTaints": []map[string]string{{"key": realNodeTaint, "value": "true", "effect": "NoSchedule"}},
		"maxPods":            o.NodePods,
		// The images were built here and cannot be pulled again: never
		// garbage-collect them, whatever the disk's usage.
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		// A shared development disk is often fuller than a node's; evict
		// only when it is really out of space.
		"evictionHard": map[string]string{
			"memory.available":  "100Mi",
			"nodefs.available":  "1%",
			"imagefs.available": "1%",
			"nodefs.inodesFree": "1%",
		},
		"serializeImagePulls": false,
		// Containers restart promptly in tests that make them fail.
		"syncFrequency":          "10s",
		"protectKernelDefaults":  false,
		"makeIPTablesUtilChains": true,
	}
	data, err := yaml.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("render kubelet configuration: %w", err)
	}
	return data, nil
}

// kubeProxyConfig is kube-proxy's KubeProxyConfiguration: iptables mode in the
// node's namespace. The conntrack limits are left alone because they are
// global to the machine, not the namespace's to set.
func (o Options) kubeProxyConfig() ([]byte, error) {
	config := map[string]any{
		"apiVersion":         "kubeproxy.config.k8s.io/v1alpha1",
		"kind":               "KubeProxyConfiguration",
		"clientConnection":   map[string]string{"kubeconfig": o.nodeKubeconfig()},
		"hostnameOverride":   o.realNodeName(),
		"bindAddress":        nodeIP,
		"healthzBindAddress": nodeIP + ":10256",
		"metricsBindAddress": nodeIP + ":10249",
		"clusterCIDR":        podCIDR,
		"mode":               "iptables",
		"conntrack": map[string]any{
			"maxPerCore":            0,
			"min":                   0,
			"tcpEstablishedTimeout": "0s",
			"tcpCloseWaitTimeout":   "0s",
		},
	}
	data, err := yaml.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("render kube-proxy configuration: %w", err)
	}
	return data, nil
}

// nodeKubeconfig is the node's kubeconfig: the cluster's admin credentials,
// with the API server addressed at the host end of the node's link, the only
// address the node's namespace can reach.
func (o Options) nodeKubeconfig() string { return filepath.Join(o.nodeDir(), "kubeconfig") }

func (o Options) writeNodeKubeconfig(apiPort string) error {
	config, err := clientcmd.LoadFromFile(o.Kubeconfig())
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", o.Kubeconfig(), err)
	}
	for _, cluster := range config.Clusters {
		cluster.Server = "https://" + hostLinkIP + ":" + apiPort
	}
	if err := clientcmd.WriteToFile(*config, o.nodeKubeconfig()); err != nil {
		return fmt.Errorf("write the node's kubeconfig: %w", err)
	}
	return nil
}

// apiServerPort is the port of the cluster's API server, from its kubeconfig.
func (o Options) apiServerPort() (string, error) {
	config, err := clientcmd.LoadFromFile(o.Kubeconfig())
	if err != nil {
		return "", fmt.Errorf("load kubeconfig %s: %w", o.Kubeconfig(), err)
	}
	for _, cluster := range config.Clusters {
		if i := strings.LastIndex(cluster.Server, ":"); i >= 0 {
			return cluster.Server[i+1:], nil
		}
	}
	return "", fmt.Errorf("kubeconfig %s names no API server", o.Kubeconfig())
}

// writeFile writes data to path, creating its folder.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
