package devcluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// kwokctlConfiguration is the subset of kwokctl's KwokctlConfiguration
// (config.kwok.x-k8s.io/v1alpha1) this package sets; kwok's own API module is
// not a dependency because its Kubernetes versions would fight the control
// plane's.
type kwokctlConfiguration struct {
	APIVersion        string           `json:"apiVersion"`
	Kind              string           `json:"kind"`
	Options           kwokctlOptions   `json:"options"`
	ComponentsPatches []componentPatch `json:"componentsPatches"`
}

type kwokctlOptions struct {
	Runtime                     string   `json:"runtime"`
	KubeApiserverCertSANs       []string `json:"kubeApiserverCertSANs,omitempty"`
	BindAddress                 string   `json:"bindAddress"`
	KubeApiserverBinary         string   `json:"kubeApiserverBinary"`
	KubeControllerManagerBinary string   `json:"kubeControllerManagerBinary"`
	KubeSchedulerBinary         string   `json:"kubeSchedulerBinary"`
	EtcdBinary                  string   `json:"etcdBinary"`
	KwokControllerBinary        string   `json:"kwokControllerBinary"`
}

// componentPatch adds command-line flags to one component kwokctl starts;
// kwokctl appends each as --key=value to the component's own flags and keeps
// them in the cluster's saved configuration, so a restart keeps them too.
type componentPatch struct {
	Name      string     `json:"name"`
	ExtraArgs []extraArg `json:"extraArgs"`
}

type extraArg struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	// Override replaces kwokctl's own value of the flag instead of adding
	// a second one.
	Override bool `json:"override,omitempty"`
}

// kwokAdminCertName is the common name of the admin certificate kwokctl
// generates (sigs.k8s.io/kwok/pkg/kwokctl/pki DefaultUser), which the API
// server also presents as its proxy client certificate.
const kwokAdminCertName = "kwok-admin"

// kwokctlConfigYAML renders the cluster's KwokctlConfiguration. Every binary
// is given by path because kwokctl downloads any binary it is not given, and
// there is no internet here. The bind address keeps every component on
// loopback; kwokctl's default is 0.0.0.0.
func (o Options) kwokctlConfigYAML() ([]byte, error) {
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		return nil, fmt.Errorf("bin-dir %q: %w", o.BinDir, err)
	}
	options := kwokctlOptions{
		Runtime:                     "binary",
		BindAddress:                 "127.0.0.1",
		KubeApiserverBinary:         filepath.Join(bin, "kube-apiserver"),
		KubeControllerManagerBinary: filepath.Join(bin, "kube-controller-manager"),
		KubeSchedulerBinary:         filepath.Join(bin, "kube-scheduler"),
		EtcdBinary:                  filepath.Join(bin, "etcd"),
		KwokControllerBinary:        filepath.Join(bin, "kwok"),
	}
	var missing []string
	for _, path := range []string{options.KubeApiserverBinary, options.KubeControllerManagerBinary,
		options.KubeSchedulerBinary, options.EtcdBinary, options.KwokControllerBinary} {
		if _, err := os.Stat(path); err != nil {
			missing = append(missing, path)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %s; run `make tools`", strings.Join(missing, ", "))
	}
	patches := []componentPatch{{
		Name: "kube-controller-manager",
		// Volume claims of the default StorageClass (storage.go) are
		// provisioned by kube-controller-manager's built-in hostPath
		// provisioner, off by default: nothing else here could bind
		// them.
		ExtraArgs: []extraArg{{Key: "enable-hostpath-provisioner", Value: "true"}},
	}}
	if o.RealNodes > 0 {
		// Pods reach the API server through the `kubernetes` Service, which
		// leads to the host end of the real node's link (realnet.go): the
		// server listens there too and its certificate names that address
		// and the Service's. It calls the kubelet (logs, exec, metrics
		// proxy) with the admin certificate the kubelet trusts.
		options.KubeApiserverCertSANs = []string{hostLinkIP, kubernetesServiceIP}
		pki := o.pkiDir()
		patches = append(patches, componentPatch{
			Name: "kube-apiserver",
			ExtraArgs: []extraArg{
				{Key: "bind-address", Value: "0.0.0.0", Override: true},
				{Key: "advertise-address", Value: hostLinkIP},
				{Key: "service-cluster-ip-range", Value: serviceCIDR},
				{Key: "kubelet-client-certificate", Value: filepath.Join(pki, "admin.crt")},
				{Key: "kubelet-client-key", Value: filepath.Join(pki, "admin.key")},
				// The node's name resolves nowhere; a lookup would even
				// ask the machine's resolver.
				{Key: "kubelet-preferred-address-types", Value: "InternalIP"},
				// The aggregation layer: aggregated API servers in pods
				// (prometheus-adapter, metrics-server) authenticate the
				// requests the API server proxies to them by this CA, which
				// signed the proxy client certificate kwokctl gives it.
				{Key: "requestheader-client-ca-file", Value: filepath.Join(pki, "ca.crt")},
				// The same CA signs every client certificate here: only
				// the proxy client's (kwokctl's admin certificate, whose
				// name is kwok's constant) may assert a user by header.
				{Key: "requestheader-allowed-names", Value: kwokAdminCertName},
				{Key: "requestheader-username-headers", Value: "X-Remote-User"},
				{Key: "requestheader-group-headers", Value: "X-Remote-Group"},
				{Key: "requestheader-extra-headers-prefix", Value: "X-Remote-Extra-"},
				// The API server runs on the host, which has no route to
				// Service addresses (kube-proxy programs them inside the
				// node's namespace only): it must proxy to an aggregated
				// API's endpoint pods, which the host reaches through the
				// node, or its requests leave by the default route.
				{Key: "enable-aggregator-routing", Value: "true"},
			},
		}, componentPatch{
			// kwokctl lets kwok-controller fake every node; the real node's
			// pods are its kubelet's.
			Name: "kwok-controller",
			ExtraArgs: []extraArg{
				{Key: "manage-all-nodes", Value: "false", Override: true},
				{Key: "manage-nodes-with-annotation-selector", Value: kwokNodeAnnotation + "=fake"},
			},
		})
	}
	data, err := yaml.Marshal(kwokctlConfiguration{
		APIVersion:        "config.kwok.x-k8s.io/v1alpha1",
		Kind:              "KwokctlConfiguration",
		Options:           options,
		ComponentsPatches: patches,
	})
	if err != nil {
		return nil, fmt.Errorf("render kwokctl configuration: %w", err)
	}
	return data, nil
}

// warnIfOutdated says so when the cluster was created from another
// configuration than this version of nexios-cluster writes, e.g. before it
// enabled volume provisioning: kwokctl keeps a cluster's configuration for its
// lifetime, so only recreating the cluster applies the new one.
func (o Options) warnIfOutdated(log io.Writer) {
	want, err := o.kwokctlConfigYAML()
	if err != nil {
		// Starting will fail with the same error, which names the fix.
		return
	}
	if have, err := os.ReadFile(o.kwokctlConfig()); err == nil && bytes.Equal(have, want) {
		return
	}
	fmt.Fprintf(log, "cluster %q was created with another configuration than this nexios-cluster writes "+
		"(e.g. without volume provisioning); to apply it, recreate the cluster: make cluster-down cluster CLUSTER=%s\n", o.Name, o.Name)
}

// kwokctl runs kwokctl against this cluster with its work dir and caches
// inside the cluster's state folder.
func (o Options) kwokctl(ctx context.Context, args ...string) error {
	path := filepath.Join(o.BinDir, "kwokctl")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("kwokctl not found at %s (run `make tools`): %w", path, err)
	}
	cmd := exec.CommandContext(ctx, path, append([]string{"--name", o.Name}, args...)...)
	cmd.Env = append(os.Environ(),
		"KWOK_WORKDIR="+o.kwokWorkDir(),
		// kwokctl's client caches discovery in ~/.kube/cache unless told
		// otherwise; keep that inside the cluster's state folder too.
		"KUBECACHEDIR="+filepath.Join(o.Dir(), "kube-cache"),
	)
	// kwokctl logs JSON lines when not on a terminal: noise on success,
	// the explanation on failure.
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kwokctl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
