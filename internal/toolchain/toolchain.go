// Package toolchain finds the tools `make tools` builds into the project's
// bin/ folder and the environment a Pulumi run needs to use only them: the
// pinned CLI, the locally built provider plugins, nothing downloaded.
package toolchain

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// modulePath identifies the project's root go.mod; the tool modules under
// tools/ have go.mod files too, and must not be taken for the root.
const modulePath = "github.com/nexios-labs/nexios-k8s"

// Tool names one binary `make tools` puts into bin/.
type Tool string

// The tools `make tools` provides.
const (
	Pulumi                Tool = "pulumi"
	KubernetesProvider    Tool = "pulumi-resource-kubernetes"
	RandomProvider        Tool = "pulumi-resource-random"
	Kwokctl               Tool = "kwokctl"
	Kwok                  Tool = "kwok"
	KubeAPIServer         Tool = "kube-apiserver"
	KubeControllerManager Tool = "kube-controller-manager"
	KubeScheduler         Tool = "kube-scheduler"
	Etcd                  Tool = "etcd"
	NexiosCluster         Tool = "nexios-cluster"
	Kubectl               Tool = "kubectl"
)

// PulumiTools are what a Pulumi run against the cluster needs.
var PulumiTools = []Tool{Pulumi, KubernetesProvider, RandomProvider}

// ClusterTools are what starting a local cluster needs.
var ClusterTools = []Tool{NexiosCluster, Kwokctl, Kwok, KubeAPIServer, KubeControllerManager, KubeScheduler, Etcd}

// Toolchain is the set of tools of one project checkout.
type Toolchain struct {
	// Root is the project's root folder, the one holding its go.mod.
	Root string
}

// Find locates the project from the working directory, which may be any
// folder inside it (go test runs in the package's folder).
func Find() (Toolchain, error) {
	wd, err := os.Getwd()
	if err != nil {
		return Toolchain{}, fmt.Errorf("find project root: %w", err)
	}
	return FindFrom(wd)
}

// FindFrom locates the project from dir or the nearest parent holding the
// project's root go.mod.
func FindFrom(dir string) (Toolchain, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Toolchain{}, fmt.Errorf("find project root from %s: %w", dir, err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		isRoot, err := declaresModule(filepath.Join(d, "go.mod"))
		if err != nil {
			return Toolchain{}, err
		}
		if isRoot {
			return Toolchain{Root: d}, nil
		}
		if filepath.Dir(d) == d {
			return Toolchain{}, fmt.Errorf("no go.mod declaring module %s in %s or any parent", modulePath, dir)
		}
	}
}

// declaresModule reports whether the go.mod at path declares the project's
// module; a missing file is simply not it.
func declaresModule(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if name, ok := strings.CutPrefix(strings.TrimSpace(scanner.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(name), `"`) == modulePath, nil
		}
	}
	if err := scanner.Err(); err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return false, nil
}

// BinDir is where `make tools` puts the tools.
func (t Toolchain) BinDir() string { return filepath.Join(t.Root, "bin") }

// Path returns where tool is, or an error naming `make tools` when it is not
// there.
func (t Toolchain) Path(tool Tool) (string, error) {
	path := filepath.Join(t.BinDir(), string(tool))
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s is not built: %s missing; run `make tools`", tool, path)
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file; run `make tools`", path)
	}
	return path, nil
}

// Require reports every missing tool in one error naming `make tools`.
func (t Toolchain) Require(tools ...Tool) error {
	var missing []string
	for _, tool := range tools {
		if !t.installed(tool) {
			missing = append(missing, string(tool))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("tools missing from %s: %s; run `make tools`", t.BinDir(), strings.Join(missing, ", "))
	}
	return nil
}

func (t Toolchain) installed(tool Tool) bool {
	if tool == RandomProvider {
		// `make random-provider` either builds an offline stand-in into bin/
		// or leaves the real plugin in Pulumi's plugin cache; both leave its
		// stamp, so the stamp is what says it has run.
		_, err := os.Stat(filepath.Join(t.BinDir(), ".stamps", string(tool)))
		return err == nil
	}
	_, err := t.Path(tool)
	return err == nil
}

// PulumiEnv is the environment a Pulumi CLI run needs on top of the caller's:
// bin/ first on PATH, so the engine takes the CLI's plugins from there as
// ambient plugins, and nothing fetched from the network.
func (t Toolchain) PulumiEnv() map[string]string {
	path := t.BinDir()
	if inherited := os.Getenv("PATH"); inherited != "" {
		path += string(os.PathListSeparator) + inherited
	}
	return map[string]string{
		"PATH": path,
		// No release check against api.pulumi.com on every command.
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		// A missing plugin is an error naming it, not a download attempt.
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		// Plugins on PATH are what `make tools` built; never ignore them.
		"PULUMI_IGNORE_AMBIENT_PLUGINS": "false",
		// Runs are driven by code or CI, never answered by a person.
		"PULUMI_SKIP_CONFIRMATIONS": "true",
	}
}
