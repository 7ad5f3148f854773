package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/nexios-labs/nexios-k8s/internal/localcluster"
	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
	"github.com/nexios-labs/nexios-k8s/program"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// localClusterName is the cluster `make cluster` starts and `make up` deploys to; NEXIOS_CLUSTER
// names another (the Makefile passes its CLUSTER variable, tests their own cluster).
func localClusterName() string {
	if name := os.Getenv("NEXIOS_CLUSTER"); name != "" {
		return name
	}
	return "nexios"
}

// deployer holds one command's validated inputs and its stack.
type deployer struct {
	opts           options
	stdout, stderr io.Writer
	tools          toolchain.Toolchain
	env            map[string]string
	config         *stacks.Config
	stack          auto.Stack
	// newStack says that opening the stack created it in the backend: a refusal before the engine
	// runs takes it out again (forgetNewStack).
	newStack bool
	// localCluster is the local cluster the command deploys to, once started.
	localCluster *localcluster.Cluster
	// openingState is the export of the stack's state that opening the stack started, for the
	// commands that read the state first (see exportState).
	openingState *stateFetch
}

// stateFetch is an export of a stack's state running beside the other CLI calls that open the stack.
type stateFetch struct {
	done  chan struct{}
	state apitype.UntypedDeployment
	err   error
}

func fetchState(ctx context.Context, ws auto.Workspace, stack string, showSecrets bool) *stateFetch {
	f := &stateFetch{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.state, f.err = exportStack(ctx, ws, stack, showSecrets)
	}()
	return f
}

// exportStack exports the stack's state as the workspace's ExportStack does, but leaves its secrets
// encrypted unless showSecrets: decrypting them derives the passphrase's key (a million rounds of
// PBKDF2), which doubles the export's CPU time, and only `outputs --show-secrets` needs a plaintext.
func exportStack(ctx context.Context, ws auto.Workspace, stack string, showSecrets bool) (apitype.UntypedDeployment, error) {
	args := []string{"stack", "export", "--stack", stack}
	if showSecrets {
		args = append(args, "--show-secrets")
	}
	var state apitype.UntypedDeployment
	stdout, stderr, err := workspaceCLI(ctx, ws, args...)
	if err != nil {
		return state, fmt.Errorf("pulumi stack export: %w: %s", err, strings.TrimSpace(stderr))
	}
	if err := json.Unmarshal([]byte(stdout), &state); err != nil {
		return state, fmt.Errorf("reading pulumi stack export's output: %w", err)
	}
	return state, nil
}

// pulumiCLI runs the Pulumi CLI in the stack's workspace, with its environment, for what the
// Automation API does not offer, and returns its stdout and stderr.
func (d *deployer) pulumiCLI(ctx context.Context, args ...string) (string, string, error) {
	return workspaceCLI(ctx, d.stack.Workspace(), args...)
}

// workspaceCLI runs the Pulumi CLI in ws with its environment, as the workspace's own methods do.
func workspaceCLI(ctx context.Context, ws auto.Workspace, args ...string) (string, string, error) {
	var env []string
	for k, v := range ws.GetEnvVars() {
		env = append(env, k+"="+v)
	}
	if home := ws.PulumiHome(); home != "" {
		env = append(env, "PULUMI_HOME="+home)
	}
	stdout, stderr, _, err := ws.PulumiCommand().Run(ctx, ws.WorkDir(), nil, nil, nil, env, args...)
	return stdout, stderr, err
}

// readsStateFirst lists the commands that export the state before anything can change it.
var readsStateFirst = []string{"up", "destroy", "outputs"}

// exportState returns the stack's state: the first time, the export that opening the stack started,
// its secrets encrypted unless the command shows them; after that, a new one with its secrets in
// plaintext, since the command may have changed the state since.
func (d *deployer) exportState(ctx context.Context) (apitype.UntypedDeployment, error) {
	if f := d.openingState; f != nil {
		d.openingState = nil
		<-f.done
		return f.state, f.err
	}
	return d.stack.Export(ctx)
}

// newDeployer checks everything it can before touching state or a cluster: tools, the stack's
// configuration (from its files, before the backend is opened), and the passphrase. An invalid
// configuration stops here, with every problem listed.
func newDeployer(ctx context.Context, opts options, stdout, stderr io.Writer) (*deployer, error) {
	tools, err := toolchain.Find()
	if err != nil {
		return nil, invalid(err)
	}
	if err := tools.Require(toolchain.PulumiTools...); err != nil {
		return nil, invalid(err)
	}
	d := &deployer{opts: opts, stdout: stdout, stderr: stderr, tools: tools, env: tools.PulumiEnv()}
	d.env["PULUMI_BACKEND_URL"] = backendURL(tools.Root)
	// The stack is the source of truth: a field someone changed by hand (kubectl scale, edit) belongs
	// to another server-side-apply field manager, and without force the provider refuses to put it
	// back ("Server-Side Apply field conflict"), so up could not repair the drift that drift reports.
	d.env["PULUMI_K8S_ENABLE_PATCH_FORCE"] = "true"

	if _, err := os.Stat(filepath.Join(tools.Root, "Pulumi."+opts.stack+".yaml")); err != nil {
		return nil, invalid(fmt.Errorf("stack %q has no Pulumi.%s.yaml in %s; stacks are defined by their files", opts.stack, opts.stack, tools.Root))
	}
	if err := checkStackFiles(tools.Root, opts.stack); err != nil {
		return nil, invalid(err)
	}
	// The profile decides the passphrase default and whether a destroy needs confirming, before the
	// stack is opened: read the environment from the file's own words without decrypting anything.
	env, err := environmentOfStackFile(tools.Root, opts.stack)
	if err != nil {
		return nil, invalid(err)
	}
	if err := d.resolvePassphrase(env); err != nil {
		return nil, invalid(err)
	}

	pulumiCmd, err := newPulumiCommand(tools.Root)
	if err != nil {
		return nil, invalid(fmt.Errorf("using the Pulumi CLI in %s: %w; run `make tools`", tools.BinDir(), err))
	}
	if err := os.MkdirAll(filepath.Join(tools.Root, ".state"), 0o755); err != nil {
		return nil, fmt.Errorf("creating the local state folder: %w", err)
	}
	if opts.command == "recover" {
		// Opening the stack reads its state, which a run killed mid-write can leave unreadable.
		if err := d.repairStateFiles(); err != nil {
			return nil, err
		}
	}
	workspace := []auto.LocalWorkspaceOption{
		auto.Program(program.Run),
		auto.Pulumi(pulumiCmd),
		auto.EnvVars(d.env),
		auto.SecretsProvider(opts.secretsProvider),
	}
	ws, err := auto.NewLocalWorkspace(ctx, append(workspace, auto.WorkDir(tools.Root))...)
	if err != nil {
		return nil, fmt.Errorf("opening the project in %s: %w", tools.Root, err)
	}
	// Selecting the stack, reading its configuration and, for the commands that read it first,
	// exporting its state are CLI runs of half a second each that need not wait for each other: each
	// names the stack.
	configRead := make(chan struct{})
	var config auto.ConfigMap
	var configErr error
	go func() {
		defer close(configRead)
		config, configErr = ws.GetAllConfig(ctx, opts.stack)
	}()
	if slices.Contains(readsStateFirst, opts.command) {
		d.openingState = fetchState(ctx, ws, opts.stack, opts.command == "outputs" && opts.showSecrets)
	}
	d.stack, err = auto.SelectStack(ctx, opts.stack, ws)
	<-configRead
	if auto.IsSelectStack404Error(err) {
		// A stack this command creates: what ran beside the selection found no stack.
		d.newStack, d.openingState = true, nil
		if d.stack, err = auto.NewStack(ctx, opts.stack, ws); err == nil {
			config, configErr = ws.GetAllConfig(ctx, opts.stack)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening stack %q: %w", opts.stack, err)
	}
	if d.config, err = d.validateConfig(config, configErr); err != nil {
		// Only a secret's value, which the stack files' own check could not read, gets here: the
		// stack this command created to read it goes again, so invalid input leaves no trace.
		return nil, errors.Join(err, d.forgetNewStack(ctx))
	}
	return d, nil
}

// checkStackFiles validates the stack's configuration from the project and stack files alone, before
// any call to the CLI: opening a stack that does not exist yet creates it in the backend, and invalid
// input must leave the backend as untouched as the cluster. validatedConfig checks the decrypted
// configuration again once the stack is open.
func checkStackFiles(root, stack string) error {
	project, err := os.ReadFile(filepath.Join(root, "Pulumi.yaml"))
	if err != nil {
		return fmt.Errorf("reading the project file: %w", err)
	}
	path := filepath.Join(root, "Pulumi."+stack+".yaml")
	file, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the stack file: %w", err)
	}
	err = stacks.CheckFiles(stack, project, file)
	var cerr *stacks.ConfigError
	if err != nil && !errors.As(err, &cerr) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return err
}

// backendURL is PULUMI_BACKEND_URL, or a file backend in the project's ignored .state folder.
func backendURL(root string) string {
	if url := os.Getenv("PULUMI_BACKEND_URL"); url != "" {
		return url
	}
	return "file://" + filepath.ToSlash(filepath.Join(root, ".state"))
}

// resolvePassphrase passes the passphrase on, or applies the empty default that only the dev stack on
// the local cluster gets.
func (d *deployer) resolvePassphrase(env stacks.Environment) error {
	if d.opts.secretsProvider != "passphrase" {
		return nil
	}
	for _, name := range []string{"PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"} {
		if v, ok := os.LookupEnv(name); ok {
			d.env[name] = v
			return nil
		}
	}
	if env == stacks.Dev && d.opts.cluster != "kubeconfig" && os.Getenv("KUBECONFIG") == "" {
		d.env["PULUMI_CONFIG_PASSPHRASE"] = ""
		return nil
	}
	return fmt.Errorf("PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) is not set: stack %q encrypts its secrets "+
		"with a passphrase; export it, or pass --secrets-provider for another provider (only the dev stack on the local "+
		"cluster defaults to an empty passphrase)", d.opts.stack)
}

// environmentOfStackFile reads nexios:environment from the stack file, falling back to the stack name.
func environmentOfStackFile(root, stack string) (stacks.Environment, error) {
	settings := map[string]stacks.Setting{}
	raw, err := os.ReadFile(filepath.Join(root, "Pulumi."+stack+".yaml"))
	if err != nil {
		return "", fmt.Errorf("reading the stack file: %w", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), stacks.Namespace+":environment:"); ok {
			settings[stacks.Namespace+":environment"] = stacks.Setting{Value: strings.Trim(strings.TrimSpace(v), `"'`)}
		}
	}
	return stacks.EnvironmentOf(stack, settings)
}

// validatedConfig reads the stack's whole configuration, as the engine will hand it to the program,
// and validates it (see validateConfig).
func (d *deployer) validatedConfig(ctx context.Context) (*stacks.Config, error) {
	all, err := d.stack.GetAllConfig(ctx)
	return d.validateConfig(all, err)
}

// validateConfig validates the stack's whole configuration, read with readErr: unknown keys
// included, which an inline program cannot see by itself.
func (d *deployer) validateConfig(all auto.ConfigMap, readErr error) (*stacks.Config, error) {
	if readErr != nil {
		return nil, fmt.Errorf("reading the configuration of stack %q: %w", d.opts.stack, readErr)
	}
	settings := make(map[string]stacks.Setting, len(all))
	for key, v := range all {
		settings[key] = stacks.Setting{Value: v.Value, Secret: v.Secret}
	}
	cfg, err := stacks.Parse(d.opts.stack, settings)
	if err != nil {
		return nil, invalid(err)
	}
	return cfg, nil
}

// usesLocalCluster decides where the resources go: the local cluster, unless the stack or the
// environment names another one. ~/.kube/config alone does not count: a default context pointing at a
// shared cluster must never receive a dev stack by accident.
func (d *deployer) usesLocalCluster() bool {
	switch d.opts.cluster {
	case "local":
		return true
	case "kubeconfig":
		return false
	}
	t := d.config.Target
	return t.Kubeconfig == "" && t.Context == "" && t.RenderYAMLTo == "" && os.Getenv("KUBECONFIG") == ""
}

// ensureLocalCluster starts the local cluster when the stack uses it and points the provider at it.
// The kubeconfig reaches the provider through KUBECONFIG rather than a provider input, so a restarted
// cluster with new ports does not make Pulumi replace the provider and every resource.
func (d *deployer) ensureLocalCluster(ctx context.Context) error {
	if !d.usesLocalCluster() {
		return nil
	}
	if err := d.tools.Require(toolchain.ClusterTools...); err != nil {
		return invalid(err)
	}
	cluster := localcluster.Cluster{Toolchain: d.tools, Name: localClusterName(), Log: d.stderr}
	realNodes, err := d.realNodes(ctx, cluster)
	if err != nil {
		return err
	}
	cluster.RealNodes = realNodes
	d.localCluster = &cluster
	if err := cluster.Start(ctx); err != nil {
		return fmt.Errorf("starting the local cluster %q: %w", cluster.Name, err)
	}
	kubeconfig, err := cluster.Kubeconfig(ctx)
	if err != nil {
		return fmt.Errorf("locating the local cluster's kubeconfig: %w", err)
	}
	d.env["KUBECONFIG"] = kubeconfig
	return d.stack.Workspace().SetEnvVars(map[string]string{"KUBECONFIG": kubeconfig})
}

// realNodes decides whether a new local cluster gets a real node (NEXIOS_REAL_NODE: auto, the
// default, where the machine can run one; on; off). In auto, a machine that cannot gets one line
// saying why, and simulated nodes only.
func (d *deployer) realNodes(ctx context.Context, cluster localcluster.Cluster) (int, error) {
	switch mode := os.Getenv("NEXIOS_REAL_NODE"); mode {
	case "on":
		return 1, nil
	case "off":
		return 0, nil
	case "", "auto":
		if err := cluster.RealNodeSupport(ctx); err != nil {
			fmt.Fprintf(d.stderr, "local cluster: no real node on this machine, pods are simulated by kwok and no container runs (%v)\n", err)
			return 0, nil
		}
		return 1, nil
	default:
		return 0, invalid(fmt.Errorf("NEXIOS_REAL_NODE=%q: want auto, on or off", mode))
	}
}
