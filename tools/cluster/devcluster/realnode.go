package devcluster

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The real node's daemons, in start order.
const (
	daemonContainerd = "containerd"
	daemonKubelet    = "kubelet"
	daemonKubeProxy  = "kube-proxy"
	daemonKubeRouter = "kube-router"
)

// realNodeBinaries are the programs `make tools` builds for a real node,
// relative to the bin folder.
var realNodeBinaries = []string{
	"containerd", "containerd-shim-runc-v2", "ctr", "runc", "kubelet", "kube-proxy", "kube-router",
	"cni/bridge", "cni/host-local", "cni/loopback", "cni/portmap",
}

// hostCommands are the machine's own programs the real node needs.
var hostCommands = []string{"ip", "nsenter", "sysctl", "iptables", "iptables-restore", "ipset"}

// imagesDir holds the images built here, one docker-archive tarball each.
func (o Options) imagesDir() string { return filepath.Join(o.BinDir, "images") }

// RealNodeSupport reports why this machine cannot run a real node, or nil
// when it can. It changes nothing.
func RealNodeSupport(binDir string) error {
	var errs []error
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("a real node needs root: it creates a network namespace, mounts and cgroups"))
	}
	for _, f := range []string{"/proc/self/ns/net", "/proc/self/ns/pid", "/proc/self/ns/mnt"} {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("the kernel offers no %s namespaces", filepath.Base(f)))
		}
	}
	if _, err := os.Stat(filepath.Join(trackingHierarchy, "cgroup.procs")); err != nil {
		errs = append(errs, fmt.Errorf("no cgroup v1 pids hierarchy at %s (this cluster tool drives cgroup v1 machines)", trackingHierarchy))
	}
	if data, err := os.ReadFile("/proc/filesystems"); err != nil || !strings.Contains(string(data), "overlay") {
		errs = append(errs, errors.New("the kernel has no overlay filesystem, which containerd's snapshotter needs"))
	}
	for _, name := range hostCommands {
		if _, err := exec.LookPath(name); err != nil {
			errs = append(errs, fmt.Errorf("%s not found; install it (Debian: apt-get install iproute2 util-linux procps iptables ipset)", name))
		}
	}
	var missing []string
	for _, name := range realNodeBinaries {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing %s in %s; run `make tools`", strings.Join(missing, ", "), binDir))
	}
	if tars, _ := filepath.Glob(filepath.Join(binDir, "images", "*.tar")); len(tars) == 0 {
		errs = append(errs, fmt.Errorf("no images in %s; run `make images`", filepath.Join(binDir, "images")))
	}
	return errors.Join(errs...)
}

// realNodePreflight refuses, before anything starts, a real node this machine
// cannot run or one whose fixed addresses another cluster's real node holds.
func (o Options) realNodePreflight(ctx context.Context) error {
	if err := RealNodeSupport(o.BinDir); err != nil {
		return fmt.Errorf("cannot run a real node here (use -real-nodes 0 for simulated nodes only):\n%w", err)
	}
	if err := o.checkSocketRoom(); err != nil {
		return err
	}
	namespaces, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("list network namespaces: %w", err)
	}
	for _, ns := range namespaces {
		if strings.HasPrefix(ns.Name(), "nexios-") && ns.Name() != o.netnsName() {
			other := strings.TrimPrefix(ns.Name(), "nexios-")
			return fmt.Errorf("cluster %q already runs a real node on this machine and one machine runs one; "+
				"remove it first (make cluster-down CLUSTER=%s) or use -real-nodes 0", other, other)
		}
	}
	return nil
}

// maxSocketPath is the longest path a unix socket can be bound at: sun_path's 108 bytes, less the
// terminating NUL.
const maxSocketPath = 107

// checkSocketRoom refuses a state folder so deep that the kubelet's sockets under its root folder
// (pod-resources/<up to 10 digits>) cannot be bound: the kubelet would exit at start with "bind:
// invalid argument", which a test's long temporary folder once made look like a flake.
func (o Options) checkSocketRoom() error {
	socket, err := filepath.Abs(filepath.Join(o.nodeDir(), "kubelet", "pod-resources", "4294967295"))
	if err != nil {
		return fmt.Errorf("locating the kubelet's folder: %w", err)
	}
	if len(socket) > maxSocketPath {
		return fmt.Errorf("the state folder %s is too deep for a real node: the kubelet's sockets (%s, %d bytes) must fit in %d bytes; "+
			"use a shorter -state-dir or cluster name (%d bytes too many)", o.StateDir, socket, len(socket), maxSocketPath, len(socket)-maxSocketPath)
	}
	return nil
}

// localImage is one image built here.
type localImage struct {
	Ref  string
	Path string
}

// localImages lists the images in the images folder, read from each
// tarball's own manifest so the tags are exactly those imported.
func (o Options) localImages() ([]localImage, error) {
	tars, err := filepath.Glob(filepath.Join(o.imagesDir(), "*.tar"))
	if err != nil {
		return nil, err
	}
	var images []localImage
	for _, path := range tars {
		refs, err := dockerArchiveTags(path)
		if err != nil {
			return nil, err
		}
		for _, ref := range refs {
			images = append(images, localImage{Ref: ref, Path: path})
		}
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("no images in %s; run `make images`", o.imagesDir())
	}
	return images, nil
}

// dockerArchiveTags reads the RepoTags of a docker-archive tarball.
func dockerArchiveTags(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", path, err)
	}
	defer f.Close()
	reader := tar.NewReader(f)
	for {
		header, err := reader.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("image %s: no manifest.json; rebuild it with `make images`", path)
		}
		if err != nil {
			return nil, fmt.Errorf("read image %s: %w", path, err)
		}
		if header.Name != "manifest.json" {
			continue
		}
		var manifest []struct{ RepoTags []string }
		if err := json.NewDecoder(reader).Decode(&manifest); err != nil {
			return nil, fmt.Errorf("image %s: manifest.json: %w", path, err)
		}
		var tags []string
		for _, m := range manifest {
			tags = append(tags, m.RepoTags...)
		}
		if len(tags) == 0 {
			return nil, fmt.Errorf("image %s has no tag", path)
		}
		return tags, nil
	}
}

// normalizedRef is the reference as the container runtime stores it
// (docker.io/library/ for Docker Hub's short names).
func normalizedRef(ref string) string {
	name := ref
	if i := strings.IndexAny(ref, "@"); i >= 0 {
		name = ref[:i]
	}
	first, _, found := strings.Cut(name, "/")
	if !found {
		return "docker.io/library/" + ref
	}
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io/" + ref
	}
	return ref
}

// sandboxImage is the pause image among the local ones.
func sandboxImage(images []localImage) (string, error) {
	for _, image := range images {
		if strings.HasPrefix(image.Ref, "registry.k8s.io/pause:") {
			return image.Ref, nil
		}
	}
	return "", errors.New("no registry.k8s.io/pause image among the local images; run `make images`")
}

// startRealNode starts the real node beside a running control plane, or
// restarts its stopped daemons. It returns when the kubelet started, so the
// caller waits for a status the restarted node reported, not the one the API
// kept from before.
func (o Options) startRealNode(ctx context.Context, client kubernetes.Interface, log io.Writer) (time.Time, error) {
	images, err := o.localImages()
	if err != nil {
		return time.Time{}, err
	}
	sandbox, err := sandboxImage(images)
	if err != nil {
		return time.Time{}, err
	}
	port, err := o.apiServerPort()
	if err != nil {
		return time.Time{}, err
	}
	for _, dir := range []string{o.nodeDir(), o.nodeRunDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return time.Time{}, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	if err := o.createCgroups(); err != nil {
		return time.Time{}, err
	}
	if err := o.createNodeNetwork(ctx); err != nil {
		return time.Time{}, err
	}
	if err := o.writeNodeConfigs(sandbox, port); err != nil {
		return time.Time{}, err
	}
	start := time.Now()
	if !o.daemonAlive(daemonContainerd) {
		if err := o.startDaemon(daemon{
			name:   daemonContainerd,
			binary: filepath.Join(o.absBinDir(), "containerd"),
			args:   []string{"--config", filepath.Join(o.nodeDir(), "containerd.toml")},
		}); err != nil {
			return time.Time{}, err
		}
	}
	if err := o.waitContainerd(ctx); err != nil {
		return time.Time{}, err
	}
	imported, err := o.importImages(ctx, images)
	if err != nil {
		return time.Time{}, err
	}
	if imported > 0 {
		fmt.Fprintf(log, "real node: imported %d images in %s\n", imported, time.Since(start).Round(100*time.Millisecond))
	}
	bin := o.absBinDir()
	daemons := []daemon{
		{
			name:   daemonKubelet,
			binary: filepath.Join(bin, "kubelet"),
			args: []string{
				"--config=" + filepath.Join(o.nodeDir(), "kubelet.yaml"),
				"--kubeconfig=" + o.nodeKubeconfig(),
				"--root-dir=" + filepath.Join(o.nodeDir(), "kubelet"),
				"--hostname-override=" + o.realNodeName(),
				"--node-ip=" + nodeIP,
				"--node-labels=" + strings.Join(o.realNodeLabels(), ","),
			},
		},
		{
			name:   daemonKubeProxy,
			binary: filepath.Join(bin, "kube-proxy"),
			args:   []string{"--config=" + filepath.Join(o.nodeDir(), "kube-proxy.yaml")},
		},
	}
	var kubeletStarted time.Time
	for _, d := range daemons {
		if o.daemonAlive(d.name) {
			continue
		}
		if d.name == daemonKubelet {
			kubeletStarted = time.Now()
		}
		if err := o.startDaemon(d); err != nil {
			return time.Time{}, err
		}
	}
	// kube-router finds its node by name at start and gives up if the
	// kubelet has not registered it yet.
	if err := o.waitNodeRegistered(ctx, client); err != nil {
		return time.Time{}, err
	}
	policy := daemon{
		name:   daemonKubeRouter,
		binary: filepath.Join(bin, "kube-router"),
		// Only its NetworkPolicy controller: the bridge routes pods and
		// kube-proxy serves Services.
		args: []string{
			"--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
			"--kubeconfig=" + o.nodeKubeconfig(), "--hostname-override=" + o.realNodeName(),
			"--enable-ipv4=true", "--enable-ipv6=false", "--health-port=0", "--metrics-port=0",
		},
	}
	volumes := daemon{
		name:   daemonVolumes,
		binary: filepath.Join(bin, "nexios-cluster"),
		args:   []string{"serve-volumes", "-name", o.Name, "-state-dir", o.StateDir, "-bin-dir", bin},
	}
	for _, d := range []daemon{policy, volumes} {
		if o.daemonAlive(d.name) {
			continue
		}
		if err := o.startDaemon(d); err != nil {
			return time.Time{}, err
		}
	}
	if err := o.ensureAddons(ctx, client, images); err != nil {
		return time.Time{}, err
	}
	return kubeletStarted, nil
}

func (o Options) realNodeLabels() []string {
	return []string{
		realNodeLabel + "=true",
		"topology.kubernetes.io/zone=" + o.Zones[0],
		"topology.kubernetes.io/region=" + o.Region,
		"type=real",
	}
}

func (o Options) writeNodeConfigs(sandbox, apiPort string) error {
	cni, err := o.cniConfig()
	if err != nil {
		return err
	}
	kubelet, err := o.kubeletConfig()
	if err != nil {
		return err
	}
	proxy, err := o.kubeProxyConfig()
	if err != nil {
		return err
	}
	files := map[string][]byte{
		filepath.Join(o.nodeDir(), "containerd.toml"):       []byte(o.containerdConfig(sandbox)),
		filepath.Join(o.cniConfDir(), "10-nexios.conflist"): cni,
		filepath.Join(o.nodeDir(), "kubelet.yaml"):          kubelet,
		filepath.Join(o.nodeDir(), "kube-proxy.yaml"):       proxy,
	}
	for path, data := range files {
		if err := writeFile(path, data); err != nil {
			return err
		}
	}
	return o.writeNodeKubeconfig(apiPort)
}

// ctr runs containerd's client against the node's containerd, in the
// namespace the CRI plugin uses.
func (o Options) ctr(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(o.absBinDir(), "ctr"),
		append([]string{"--address", o.containerdSocket(), "--namespace", "k8s.io"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (o Options) waitContainerd(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := o.ctr(ctx, "version")
		if err == nil {
			return nil
		}
		if !o.daemonAlive(daemonContainerd) {
			return fmt.Errorf("containerd exited; see %s", filepath.Join(o.nodeLogDir(), "containerd.log"))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("containerd did not answer on %s: %w", o.containerdSocket(), err)
		case <-time.After(pollInterval):
		}
	}
}

// importImages imports the images the node's store lacks, returning how many.
func (o Options) importImages(ctx context.Context, images []localImage) (int, error) {
	out, err := o.ctr(ctx, "images", "list", "--quiet")
	if err != nil {
		return 0, err
	}
	have := strings.Fields(out)
	var paths []string
	for _, image := range images {
		if !slices.Contains(have, normalizedRef(image.Ref)) && !slices.Contains(paths, image.Path) {
			paths = append(paths, image.Path)
		}
	}
	for _, path := range paths {
		if _, err := o.ctr(ctx, "images", "import", "--snapshotter", "overlayfs", path); err != nil {
			return 0, fmt.Errorf("import image %s: %w", path, err)
		}
	}
	return len(paths), nil
}

// stopRealNode stops every process of the real node and undoes what it set
// up on the host (mounts, network namespace, cgroups), keeping its data so
// the next start brings the same pods back.
//
// Every step is a no-op when there is nothing to undo, so it also cleans up
// after a node whose state folder is gone.
func (o Options) stopRealNode(ctx context.Context) error {
	// The kubelet first, so it does not restart containers being killed.
	for _, name := range []string{daemonKubelet, daemonVolumes, daemonKubeRouter, daemonKubeProxy, daemonContainerd} {
		o.stopDaemon(name, 5*time.Second)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var errs []error
	if err := o.killNodeProcesses(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := unmountUnder(o.nodeDir(), o.nodeRunDir()); err != nil {
		errs = append(errs, err)
	}
	if err := o.deleteNodeNetwork(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := o.removeCgroups(); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(o.nodeRunDir()); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", o.nodeRunDir(), err))
	}
	// The parent is shared by every cluster's node; the last one removes it.
	_ = os.Remove(filepath.Dir(o.nodeRunDir()))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop the real node: %w", err)
	}
	return nil
}

// waitNodeRegistered waits for the kubelet to register the real node.
func (o Options) waitNodeRegistered(ctx context.Context, client kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		_, err := client.CoreV1().Nodes().Get(ctx, o.realNodeName(), metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if !o.daemonAlive(daemonKubelet) {
			return fmt.Errorf("kubelet exited; see %s", filepath.Join(o.nodeLogDir(), "kubelet.log"))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the kubelet did not register node %s: %w; see %s", o.realNodeName(), err, filepath.Join(o.nodeLogDir(), "kubelet.log"))
		case <-time.After(pollInterval):
		}
	}
}

// hasRealNode reports whether the cluster was created with a real node.
func (o Options) hasRealNode() bool {
	_, err := os.Stat(o.nodeDir())
	return err == nil
}
