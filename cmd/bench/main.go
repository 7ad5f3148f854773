// Command bench measures the program against kubectl on the same manifests (issue 12), on fresh local
// clusters of simulated nodes it starts and removes itself, and prints one Markdown table of medians:
//
//	go run ./cmd/bench [-runs 3] [-stacks dev] [-base GIT-REVISION | -compare PATH/TO/OTHER/deploy]
//
// For each run and stack it starts two fresh clusters: on one, `kubectl apply --server-side` of the
// manifests `deploy render` writes, then `kubectl rollout status` of every Deployment and
// StatefulSet, then a no-change `kubectl diff --server-side`; on the other, `deploy up` from empty,
// then a no-change `deploy preview --expect-no-changes` and a no-change `deploy up`. With -base (a
// revision, built from `git archive`) or -compare (a deploy binary), another build of cmd/deploy gets
// the same three timings on a third cluster, for a before/after row.
//
// It works in a scratch copy of the project's root (go.mod, Pulumi.yaml, the stack files, bin/ linked
// to the project's), so the project's own state, clusters and stack files are never touched. It never
// starts a real node: the numbers measure the engine, the provider and the control plane, and kwok
// marks pods Ready. Last, a second table: the program's construction of 1, 10 and 50 app instances in
// one stack under Pulumi mocks (program.BenchmarkConstruction), with the cost per instance. `make
// bench` builds the tools and runs it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/internal/localcluster"
	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

func main() {
	runs := flag.Int("runs", 3, "runs per stack; each figure is the median")
	stackList := flag.String("stacks", "dev", "comma-separated stacks whose Pulumi.<stack>.yaml the project holds")
	compare := flag.String("compare", "", "another deploy binary to time beside this checkout's (a before/after row)")
	base := flag.String("base", "", "a git revision whose cmd/deploy to build and time beside this checkout's (instead of -compare)")
	prefix := flag.String("cluster-prefix", "nexios-bench", "prefix of the clusters bench starts and removes")
	verbose := flag.Bool("v", false, "show the commands' output")
	flag.Parse()
	if *runs < 1 || flag.NArg() > 0 || (*base != "" && *compare != "") {
		fmt.Fprintln(os.Stderr, "usage: bench [-runs N>=1] [-stacks dev,...] [-base REV | -compare DEPLOY] [-cluster-prefix P] [-v]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{runs: *runs, prefix: *prefix, compare: *compare, base: *base, log: io.Discard}
	if *verbose {
		b.log = os.Stderr
	}
	err := b.run(ctx, strings.Split(*stackList, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench holds one invocation's settings and the samples it took.
type bench struct {
	runs                  int
	prefix, compare, base string
	log                   io.Writer

	tools   toolchain.Toolchain // the project's
	scratch toolchain.Toolchain // the scratch root the commands run in
	deploy  string              // this checkout's deploy binary
	kubectl string
}

// samples are one stack's timings, by what was timed.
type samples map[string][]time.Duration

// What is timed, in the table's order.
const (
	kubectlApply   = "kubectl apply --server-side + rollout status"
	kubectlDiff    = "kubectl diff --server-side (no change)"
	deployUp       = "deploy up (from empty)"
	deployPreview  = "deploy preview --expect-no-changes"
	deployUpNoop   = "deploy up (no change)"
	compareUp      = "compared deploy up (from empty)"
	comparePreview = "compared deploy preview --expect-no-changes"
	compareUpNoop  = "compared deploy up (no change)"
)

func (b *bench) run(ctx context.Context, stackNames []string) error {
	var err error
	if b.tools, err = toolchain.Find(); err != nil {
		return err
	}
	if err := b.tools.Require(slices.Concat(toolchain.PulumiTools, toolchain.ClusterTools)...); err != nil {
		return err
	}
	if b.kubectl, err = b.tools.Path("kubectl"); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "nexios-bench-")
	if err != nil {
		return fmt.Errorf("creating a scratch folder: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := b.prepare(ctx, dir, stackNames); err != nil {
		return err
	}

	results := map[string]samples{}
	for _, stack := range stackNames {
		rendered := filepath.Join(dir, "render-"+stack)
		if _, err := b.command(ctx, nil, b.deploy, "render", stack, "--out", rendered); err != nil {
			return fmt.Errorf("rendering %s: %w", stack, err)
		}
		manifests, err := readManifests(rendered)
		if err != nil {
			return err
		}
		s := samples{}
		for run := 1; run <= b.runs; run++ {
			fmt.Fprintf(os.Stderr, "bench: %s run %d of %d\n", stack, run, b.runs)
			if err := b.kubectlRun(ctx, manifests, s); err != nil {
				return fmt.Errorf("%s run %d, kubectl: %w", stack, run, err)
			}
			if err := b.deployRun(ctx, stack, b.deploy, "p", [3]string{deployUp, deployPreview, deployUpNoop}, s); err != nil {
				return fmt.Errorf("%s run %d, deploy: %w", stack, run, err)
			}
			if b.compare != "" {
				if err := b.deployRun(ctx, stack, b.compare, "c", [3]string{compareUp, comparePreview, compareUpNoop}, s); err != nil {
					return fmt.Errorf("%s run %d, compared deploy: %w", stack, run, err)
				}
			}
		}
		results[stack] = s
	}
	fmt.Fprintln(os.Stderr, "bench: construction of 1, 10 and 50 app instances under mocks")
	construction, err := b.construction(ctx)
	if err != nil {
		return err
	}
	b.print(os.Stdout, stackNames, results)
	printConstruction(os.Stdout, construction)
	return nil
}

// prepare builds this checkout's deploy and lays out the scratch root: the project's go.mod (how the
// tools find their root), Pulumi.yaml and stack files, and a link to its bin/.
func (b *bench) prepare(ctx context.Context, dir string, stackNames []string) error {
	b.deploy = filepath.Join(dir, "deploy")
	build := exec.CommandContext(ctx, "go", "build", "-o", b.deploy, "./cmd/deploy")
	build.Dir, build.Stdout, build.Stderr = b.tools.Root, b.log, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building cmd/deploy: %w", err)
	}
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	files := []string{"go.mod", "Pulumi.yaml"}
	for _, s := range stackNames {
		files = append(files, "Pulumi."+s+".yaml")
	}
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(b.tools.Root, f))
		if err != nil {
			return fmt.Errorf("copying the project's %s: %w", f, err)
		}
		if err := os.WriteFile(filepath.Join(root, f), raw, 0o644); err != nil {
			return err
		}
	}
	if err := os.Symlink(b.tools.BinDir(), filepath.Join(root, "bin")); err != nil {
		return err
	}
	b.scratch = toolchain.Toolchain{Root: root}
	if b.base != "" {
		return b.buildBase(ctx, dir)
	}
	return nil
}

// buildBase builds cmd/deploy as it was at revision b.base, from `git archive` of it (the checkout
// itself is left alone), and makes it the compared binary.
func (b *bench) buildBase(ctx context.Context, dir string) error {
	src := filepath.Join(dir, "base")
	if err := os.Mkdir(src, 0o755); err != nil {
		return err
	}
	archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", b.base)
	archive.Dir, archive.Stderr = b.tools.Root, os.Stderr
	extract := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	extract.Stdin, extract.Stderr = pipe, os.Stderr
	if err := extract.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		return fmt.Errorf("git archive %s: %w", b.base, err)
	}
	if err := extract.Wait(); err != nil {
		return fmt.Errorf("extracting %s: %w", b.base, err)
	}
	b.compare = filepath.Join(dir, "deploy-base")
	build := exec.CommandContext(ctx, "go", "build", "-o", b.compare, "./cmd/deploy")
	build.Dir, build.Stdout, build.Stderr = src, b.log, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building cmd/deploy of %s: %w", b.base, err)
	}
	return nil
}

// freshCluster starts a new cluster of simulated nodes (any leftover of the same name removed first)
// and returns it with its kubeconfig; the caller stops it.
func (b *bench) freshCluster(ctx context.Context, suffix string) (localcluster.Cluster, string, error) {
	c := localcluster.Cluster{Toolchain: b.scratch, Name: b.prefix + "-" + suffix, Log: b.log}
	var err error
	// Once more on failure: on a loaded machine kwok's nodes sometimes miss nexios-cluster's readiness
	// deadline, which says nothing about what is measured here.
	for attempt := 1; attempt <= 2; attempt++ {
		if err = c.Stop(ctx); err != nil {
			return c, "", err
		}
		if err = c.Start(ctx); err == nil {
			break
		}
		fmt.Fprintf(os.Stderr, "bench: starting cluster %s (attempt %d): %v\n", c.Name, attempt, err)
	}
	if err != nil {
		return c, "", err
	}
	kubeconfig, err := c.Kubeconfig(ctx)
	return c, kubeconfig, err
}

// stopCluster removes a cluster even when ctx was cancelled.
func (b *bench) stopCluster(ctx context.Context, c localcluster.Cluster) {
	if err := c.Stop(context.WithoutCancel(ctx)); err != nil {
		fmt.Fprintf(os.Stderr, "bench: removing cluster %s: %v\n", c.Name, err)
	}
}

// kubectlRun times the kubectl floor on a fresh cluster: apply and wait for every rollout, then a
// no-change diff.
func (b *bench) kubectlRun(ctx context.Context, m manifests, s samples) error {
	c, kubeconfig, err := b.freshCluster(ctx, "k")
	defer b.stopCluster(ctx, c)
	if err != nil {
		return err
	}
	env := []string{"KUBECONFIG=" + kubeconfig}
	start := time.Now()
	// Namespaces first: kubectl applies files in the order given and a namespaced object needs its
	// namespace to exist.
	if _, err := b.command(ctx, env, b.kubectl, append([]string{"apply", "--server-side"}, fileArgs(m.namespaces)...)...); err != nil {
		return err
	}
	if _, err := b.command(ctx, env, b.kubectl, append([]string{"apply", "--server-side"}, fileArgs(m.others)...)...); err != nil {
		return err
	}
	for _, w := range m.workloads {
		if _, err := b.command(ctx, env, b.kubectl, "rollout", "status", "--timeout=10m", "-n", w.namespace, w.kind+"/"+w.name); err != nil {
			return err
		}
	}
	s[kubectlApply] = append(s[kubectlApply], time.Since(start))

	start = time.Now()
	out, err := b.command(ctx, env, b.kubectl, append([]string{"diff", "--server-side"}, fileArgs(slices.Concat(m.namespaces, m.others))...)...)
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("kubectl diff found changes right after the apply, so it is no no-change baseline: %w\n%s", err, out)
	}
	s[kubectlDiff] = append(s[kubectlDiff], took)
	return nil
}

// deployRun times a deploy binary on a fresh cluster: up from empty, a no-change preview, a no-change up.
func (b *bench) deployRun(ctx context.Context, stack, deploy, suffix string, labels [3]string, s samples) error {
	c, _, err := b.freshCluster(ctx, suffix)
	defer b.stopCluster(ctx, c)
	if err != nil {
		return err
	}
	state, err := os.MkdirTemp(b.scratch.Root, "state-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	env := []string{
		"NEXIOS_CLUSTER=" + c.Name,
		// Never a real node: there is one per machine, and the figures are the engine's, not containerd's.
		"NEXIOS_REAL_NODE=off",
		"PULUMI_BACKEND_URL=file://" + state,
		// The local cluster, whatever the caller's environment points at.
		"KUBECONFIG=",
	}
	for i, args := range [][]string{
		{"up", stack},
		{"preview", stack, "--expect-no-changes"},
		{"up", stack},
	} {
		start := time.Now()
		if out, err := b.command(ctx, env, deploy, args...); err != nil {
			return fmt.Errorf("deploy %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		s[labels[i]] = append(s[labels[i]], time.Since(start))
	}
	return nil
}

// command runs name in the scratch root with extra environment and returns its combined output.
func (b *bench) command(ctx context.Context, env []string, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = b.scratch.Root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = io.MultiWriter(&out, b.log)
	cmd.Stderr = io.MultiWriter(&out, b.log)
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out.String(), err
}

// manifests are a render's files, split as kubectl must apply them, and the workloads to wait for.
type manifests struct {
	namespaces, others []string
	workloads          []workload
}

type workload struct{ kind, namespace, name string }

func readManifests(dir string) (manifests, error) {
	var m manifests
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name      string `yaml:"name"`
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch doc.Kind {
		case "Namespace":
			m.namespaces = append(m.namespaces, path)
			return nil
		case "Deployment", "StatefulSet":
			m.workloads = append(m.workloads, workload{strings.ToLower(doc.Kind), doc.Metadata.Namespace, doc.Metadata.Name})
		}
		m.others = append(m.others, path)
		return nil
	})
	if err == nil && (len(m.namespaces) == 0 || len(m.workloads) == 0) {
		err = errors.New("the render holds no namespace or no workload")
	}
	return m, err
}

func fileArgs(paths []string) []string {
	var args []string
	for _, p := range paths {
		args = append(args, "-f", p)
	}
	return args
}

// print writes the table: each figure the median of the runs, with the runs' range.
func (b *bench) print(w io.Writer, stackNames []string, results map[string]samples) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "\nMedians of %d runs on %s (%d CPUs), fresh local clusters of simulated nodes; min-max in brackets.\n\n", b.runs, host, runtime.NumCPU())
	fmt.Fprintln(w, "| stack | what | time | vs kubectl |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, stack := range stackNames {
		s := results[stack]
		row := func(label, floor string) {
			if len(s[label]) == 0 {
				return
			}
			ratio := "floor"
			if floor != "" {
				ratio = fmt.Sprintf("%.1fx", median(s[label]).Seconds()/median(s[floor]).Seconds())
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", stack, label, spread(s[label]), ratio)
		}
		row(kubectlApply, "")
		row(deployUp, kubectlApply)
		row(compareUp, kubectlApply)
		row(kubectlDiff, "")
		row(deployPreview, kubectlDiff)
		row(deployUpNoop, kubectlDiff)
		row(comparePreview, kubectlDiff)
		row(compareUpNoop, kubectlDiff)
	}
	switch {
	case b.base != "":
		fmt.Fprintf(w, "\ncompared deploy: cmd/deploy at %s\n", b.base)
	case b.compare != "":
		fmt.Fprintf(w, "\ncompared deploy: %s\n", b.compare)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is the median with the range of the runs.
func spread(d []time.Duration) string {
	secs := func(t time.Duration) string { return fmt.Sprintf("%.1f s", t.Seconds()) }
	if len(d) == 1 {
		return secs(d[0])
	}
	return fmt.Sprintf("%s (%.1f-%.1f)", secs(median(d)), slices.Min(d).Seconds(), slices.Max(d).Seconds())
}
