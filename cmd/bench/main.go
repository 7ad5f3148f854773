// Command bench measures the program against kubectl on the same manifests (issue 12), on fresh local
// clusters of simulated nodes it starts and removes itself, and prints one Markdown table of medians:
//
//	go run ./cmd/bench [-runs 3] [-stacks dev,prod] [-helm bin/helm|off] [-base GIT-REVISION | -compare PATH/TO/OTHER/deploy]
//	go run ./cmd/bench -resources-only [-stacks dev,prod]
//
// For each run and stack it starts three fresh clusters: on one, `kubectl apply --server-side` of the
// manifests `deploy render --include-secrets` writes, then `kubectl rollout status` of every
// Deployment, StatefulSet and DaemonSet and `kubectl wait` for every Job to complete, then a no-change
// `kubectl diff --server-side`, then the Pulumi engine alone on a stack of one ConfigMap (floorRun: the
// share of deploy's figures no change to this project can remove); on the next, `deploy up` from empty, then a no-change `deploy preview
// --expect-no-changes` and a no-change `deploy up`; on the third, `helm upgrade --install --wait
// --wait-for-jobs` of a chart holding the same manifests (writeChart), from empty and again with
// nothing to change. With -base (a revision, built from `git archive`) or -compare (a deploy binary),
// another build of cmd/deploy gets the same three timings on a fourth cluster, for a before/after row.
//
// It works in a scratch copy of the project's root (go.mod, Pulumi.yaml, the stack files, bin/ linked
// to the project's), so the project's own state, clusters and stack files are never touched. A stack
// of the prod profile is deployed the way the e2e tests deploy it locally (localStackFile): its
// ingress off and its required database URL set as a secret under a passphrase of the bench's. It
// never starts a real node: the numbers measure the engine, the provider and the control plane, and
// kwok marks pods Ready (prod's Elasticsearch and Kibana included, whose images could not run on a
// simulated node anyway). Then a second table: the program's construction of 1, 10 and 50 app
// instances in one stack under Pulumi mocks (program.BenchmarkConstruction), with the cost per
// instance; last, the CPU and memory each stack's components request and are limited to, from the
// render (resourceTotals), which needs no cluster. `make bench` builds the tools and runs it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
	"github.com/nexios-labs/nexios-k8s/stacks"
)

func main() {
	// A flag set of its own: a package the program links (stacks' dependencies) registers -v on the
	// global one.
	flags := flag.NewFlagSet("bench", flag.ExitOnError)
	runs := flags.Int("runs", 3, "runs per stack; each figure is the median")
	stackList := flags.String("stacks", "dev,prod", "comma-separated stacks whose Pulumi.<stack>.yaml the project holds")
	compare := flags.String("compare", "", "another deploy binary to time beside this checkout's (a before/after row)")
	base := flags.String("base", "", "a git revision whose cmd/deploy to build and time beside this checkout's (instead of -compare)")
	prefix := flags.String("cluster-prefix", "nexios-bench", "prefix of the clusters bench starts and removes")
	helm := flags.String("helm", "", `the helm binary of the peer row (default: the project's bin/helm, which "make helm" builds); "off" leaves the row out`)
	resourcesOnly := flags.Bool("resources-only", false, "render the stacks and print only their CPU and memory table: no cluster, no timing")
	verbose := flags.Bool("v", false, "show the commands' output")
	_ = flags.Parse(os.Args[1:]) // ExitOnError: it exits on a bad flag
	if *runs < 1 || flags.NArg() > 0 || (*base != "" && *compare != "") {
		fmt.Fprintln(os.Stderr, "usage: bench [-runs N>=1] [-stacks dev,prod,...] [-helm PATH|off] [-base REV | -compare DEPLOY] [-cluster-prefix P] [-resources-only] [-v]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{runs: *runs, prefix: *prefix, compare: *compare, base: *base, helm: *helm, resourcesOnly: *resourcesOnly, log: io.Discard}
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
	runs                        int
	prefix, compare, base, helm string
	resourcesOnly               bool
	log                         io.Writer

	tools    toolchain.Toolchain // the project's
	scratch  toolchain.Toolchain // the scratch root the commands run in
	deploy   string              // this checkout's deploy binary
	kubectl  string
	stackEnv map[string][]string // by stack: what its deploy runs need besides the cluster (a passphrase)
}

// benchPassphrase encrypts the secrets of the bench's prod-profile stacks, in the scratch root only.
const benchPassphrase = "nexios-bench"

// localDatabaseURL is the prod profile's required database URL, as the e2e tests set it: no database
// answers there, and none needs to, since kwok only simulates the pods.
const localDatabaseURL = "postgresql://nexios:bench@db.invalid:5432/nexios"

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
	floorUp        = "the Pulumi engine alone: up of one ConfigMap (from empty)"
	floorPreview   = "the Pulumi engine alone: preview --refresh of one ConfigMap (no change)"
	helmUp         = "helm upgrade --install --wait (from empty)"
	helmUpNoop     = "helm upgrade --install --wait (no change)"
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
	if b.helm == "" {
		b.helm = filepath.Join(b.tools.BinDir(), "helm")
	}
	if b.helm != "off" && !b.resourcesOnly {
		if _, err := os.Stat(b.helm); err != nil {
			return fmt.Errorf("the Helm row needs %s: run `make helm` (or pass -helm off to leave the row out): %w", b.helm, err)
		}
	}
	if err := b.prepare(ctx, dir, stackNames); err != nil {
		return err
	}

	results := map[string]samples{}
	resources := map[string][]componentTotals{}
	for _, stack := range stackNames {
		// Secrets' values included: the chart must create what `deploy up` creates. The render stays
		// in the scratch folder, which is removed at the end, and is never printed.
		rendered := filepath.Join(dir, "render-"+stack)
		if out, err := b.command(ctx, b.stackEnv[stack], b.deploy, "render", stack, "--out", rendered, "--include-secrets"); err != nil {
			return fmt.Errorf("rendering %s: %w\n%s", stack, err, out)
		}
		if resources[stack], err = resourceTotals(rendered); err != nil {
			return fmt.Errorf("%s: %w", stack, err)
		}
		if b.resourcesOnly {
			continue
		}
		manifests, err := readManifests(rendered)
		if err != nil {
			return err
		}
		chart := filepath.Join(dir, "chart-"+stack)
		if err := writeChart(chart, "nexios-"+stack, slices.Concat(manifests.namespaces, manifests.others)); err != nil {
			return err
		}
		s := samples{}
		for run := 1; run <= b.runs; run++ {
			fmt.Fprintf(os.Stderr, "bench: %s run %d of %d\n", stack, run, b.runs)
			if err := b.kubectlRun(ctx, manifests, s); err != nil {
				return fmt.Errorf("%s run %d, kubectl: %w", stack, run, err)
			}
			if b.helm != "off" {
				if err := b.helmRun(ctx, stack, chart, s); err != nil {
					return fmt.Errorf("%s run %d, helm: %w", stack, run, err)
				}
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
	if b.resourcesOnly {
		printResources(os.Stdout, stackNames, resources)
		return nil
	}
	fmt.Fprintln(os.Stderr, "bench: construction of 1, 10 and 50 app instances under mocks")
	construction, err := b.construction(ctx)
	if err != nil {
		return err
	}
	b.print(os.Stdout, stackNames, results)
	printConstruction(os.Stdout, construction)
	printResources(os.Stdout, stackNames, resources)
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
	for _, f := range []string{"go.mod", "Pulumi.yaml"} {
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
	b.stackEnv = map[string][]string{}
	for _, stack := range stackNames {
		if err := b.prepareStack(ctx, stack); err != nil {
			return err
		}
	}
	if b.base != "" {
		return b.buildBase(ctx, dir)
	}
	return nil
}

// prepareStack writes the stack's file into the scratch root as localStackFile makes it deployable
// on the local cluster, and for the prod profile creates the stack in the scratch root's backend and
// sets its database URL as a secret, the way e2e/lifecycle_test.go does. The ciphertext and salt land
// in the scratch stack file, so every fresh backend of a deployRun opens the stack with them.
func (b *bench) prepareStack(ctx context.Context, stack string) error {
	file := "Pulumi." + stack + ".yaml"
	raw, err := os.ReadFile(filepath.Join(b.tools.Root, file))
	if err != nil {
		return fmt.Errorf("copying the project's %s: %w", file, err)
	}
	local, prod, err := localStackFile(stack, raw)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := os.WriteFile(filepath.Join(b.scratch.Root, file), local, 0o644); err != nil {
		return err
	}
	if !prod {
		return nil
	}
	b.stackEnv[stack] = []string{"PULUMI_CONFIG_PASSPHRASE=" + benchPassphrase}
	pulumi, err := b.tools.Path(toolchain.Pulumi)
	if err != nil {
		return err
	}
	env := []string{"PULUMI_BACKEND_URL=file://" + filepath.Join(b.scratch.Root, ".state"), "PULUMI_CONFIG_PASSPHRASE=" + benchPassphrase}
	for k, v := range b.tools.PulumiEnv() {
		env = append(env, k+"="+v)
	}
	if err := os.MkdirAll(filepath.Join(b.scratch.Root, ".state"), 0o755); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"stack", "init", stack, "--secrets-provider", "passphrase"},
		{"config", "set", "--secret", "nexios:databaseUrl", localDatabaseURL, "--stack", stack},
	} {
		if out, err := b.command(ctx, env, pulumi, args...); err != nil {
			return fmt.Errorf("preparing stack %s: %w\n%s", stack, err, out)
		}
	}
	return nil
}

// localStackFile is a stack file as the e2e tests make the prod profile deployable on the local
// cluster (e2e/prod_test.go, localProdConfig): an enabled app.ingress turned off, since no ingress
// controller runs there to give it the address the provider waits for. It reports whether the stack is
// of the prod profile, whose required databaseUrl the caller sets. The prod profile's own salt, if
// its file has one, goes: the bench encrypts under its own passphrase.
func localStackFile(stack string, raw []byte) ([]byte, bool, error) {
	var file map[string]any
	if err := yaml.Unmarshal(raw, &file); err != nil {
		return nil, false, fmt.Errorf("parsing the stack file: %w", err)
	}
	config, _ := file["config"].(map[string]any)
	settings := map[string]stacks.Setting{}
	if env, ok := config[stacks.Namespace+":environment"]; ok {
		settings[stacks.Namespace+":environment"] = stacks.Setting{Value: fmt.Sprint(env)}
	}
	env, err := stacks.EnvironmentOf(stack, settings)
	if err != nil {
		return nil, false, err
	}
	if app, ok := config[stacks.Namespace+":app"].(map[string]any); ok {
		if ingress, ok := app["ingress"].(map[string]any); ok && ingress["enabled"] == true {
			ingress["enabled"] = false
		}
	}
	prod := env == stacks.Prod
	if prod {
		delete(file, "encryptionsalt")
	}
	out, err := yaml.Marshal(file)
	return out, prod, err
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
		wait := []string{"rollout", "status", "--timeout=10m", "-n", w.namespace, w.kind + "/" + w.name}
		if w.kind == "job" {
			// A Job has no rollout: it is done when it completed, which is what `deploy up` waits for.
			wait = []string{"wait", "--for=condition=complete", "--timeout=10m", "-n", w.namespace, w.kind + "/" + w.name}
		}
		if _, err := b.command(ctx, env, b.kubectl, wait...); err != nil {
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
	return b.floorRun(ctx, kubeconfig, s)
}

// helmRun times Helm on a fresh cluster: `helm upgrade --install --wait --wait-for-jobs` of the chart
// from empty, then again with nothing to change (Helm 3 still records a new revision). The release is
// recorded in the namespace "default": the chart creates the stack's namespaces itself, so none of
// them exists before the install to hold the release, and `--create-namespace` would create it
// unowned by the release, after which Helm refuses to install the chart's Namespace object over it
// ("invalid ownership metadata"). Every object lands in the namespace its manifest names, as Helm
// does for a manifest that carries its own.
func (b *bench) helmRun(ctx context.Context, stack, chart string, s samples) error {
	c, kubeconfig, err := b.freshCluster(ctx, "h")
	defer b.stopCluster(ctx, c)
	if err != nil {
		return err
	}
	home, err := os.MkdirTemp(b.scratch.Root, "helm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	// Helm's own folders in the scratch root: nothing of the caller's Helm setup is read or written.
	env := []string{"KUBECONFIG=" + kubeconfig, "HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"), "HELM_DATA_HOME=" + filepath.Join(home, "data")}
	args := []string{"upgrade", "--install", "nexios-" + stack, chart, "--namespace", "default", "--wait", "--wait-for-jobs", "--timeout", "10m"}
	for _, label := range []string{helmUp, helmUpNoop} {
		start := time.Now()
		if out, err := b.command(ctx, env, b.helm, args...); err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
		s[label] = append(s[label], time.Since(start))
	}
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
	env := append([]string{
		"NEXIOS_CLUSTER=" + c.Name,
		// Never a real node: there is one per machine, and the figures are the engine's, not containerd's.
		"NEXIOS_REAL_NODE=off",
		"PULUMI_BACKEND_URL=file://" + state,
		// The local cluster, whatever the caller's environment points at.
		"KUBECONFIG=",
	}, b.stackEnv[stack]...)
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

// readManifests reads the render's files (readObjects): one object each, as `deploy render` writes them.
func readManifests(dir string) (manifests, error) {
	var m manifests
	objects, err := readObjects(dir)
	if err != nil {
		return m, err
	}
	for _, o := range objects {
		switch o.Kind {
		case "Namespace":
			m.namespaces = append(m.namespaces, o.path)
			continue
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			m.workloads = append(m.workloads, workload{strings.ToLower(o.Kind), o.Metadata.Namespace, o.Metadata.Name})
		}
		m.others = append(m.others, o.path)
	}
	if len(m.namespaces) == 0 || len(m.workloads) == 0 {
		return m, errors.New("the render holds no namespace or no workload")
	}
	return m, nil
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
		row(floorUp, kubectlApply)
		row(deployUp, kubectlApply)
		row(compareUp, kubectlApply)
		row(helmUp, kubectlApply)
		row(kubectlDiff, "")
		row(floorPreview, kubectlDiff)
		row(deployPreview, kubectlDiff)
		row(deployUpNoop, kubectlDiff)
		row(comparePreview, kubectlDiff)
		row(compareUpNoop, kubectlDiff)
		row(helmUpNoop, kubectlDiff)
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
