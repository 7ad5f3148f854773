package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
	"github.com/nexios-labs/nexios-k8s/program"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// A cluster several stacks share (dev and staging-dev, or two apps) holds each stack's objects apart:
// every object carries the stack's kube.LabelStack, everything but the namespaces and the custom
// metrics API is auto-named per stack, and what the configuration names (program.Claims) must belong
// to one stack only. Pulumi's server-side apply would otherwise take shared ownership of another
// stack's namespace on create, and delete it, with the other stack's workloads, on destroy.
//
// So preview and up read each claimed object from the cluster before the engine runs, and refuse,
// naming the object, its owner, the stack key and the fix, when it belongs to another stack (its
// label names one), or exists unlabelled and is not in this stack's state (another stack from before
// the label, or an object made outside this program). destroy refuses to delete a namespace or API in
// its state that another stack's label names: an up from before these checks took it over.

// observed is what the cluster says of a claimed object.
type observed struct {
	exists bool
	// owner is its kube.LabelStack value, "" when it has none.
	owner string
}

// clusterReader reads claimed objects from the stack's cluster.
type clusterReader interface {
	// read returns what the cluster holds of each claim, in the claims' order.
	read(ctx context.Context, claims []program.Claim) ([]observed, error)
}

// kubectlReader reads through bin/kubectl, against the cluster the provider uses: the stack's
// target.kubeconfig and target.context, else KUBECONFIG (the local cluster's, once started).
type kubectlReader struct {
	kubectl string
	args    []string
	env     []string
}

// read gets every claim in one kubectl run: kubectl is the Kubernetes multi-call binary here, whose
// start-up alone costs a third of a CPU second, and prod claims four objects.
func (k kubectlReader) read(ctx context.Context, claims []program.Claim) ([]observed, error) {
	seen := make([]observed, len(claims))
	if len(claims) == 0 {
		return seen, nil
	}
	args := []string{"get"}
	for _, c := range claims {
		args = append(args, c.Resource+"/"+c.Name)
	}
	names := strings.Join(args[1:], " ")
	out, err := k.run(ctx, append(args, "--ignore-not-found", "-o", "json")...)
	if err != nil {
		return nil, fmt.Errorf("reading %s from the cluster: %w", names, err)
	}
	objects, err := kubectlObjects(out)
	if err != nil {
		return nil, fmt.Errorf("reading %s from the cluster: %w", names, err)
	}
	for _, o := range objects {
		for i, c := range claims {
			if strings.EqualFold(o.Kind, c.Resource) && o.Metadata.Name == c.Name {
				seen[i] = observed{exists: true, owner: o.Metadata.Labels[kube.LabelStack]}
			}
		}
	}
	return seen, nil
}

// kubectlObject is what the shared-cluster checks read of an object kubectl prints.
type kubectlObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
}

// kubectlObjects reads `kubectl get --ignore-not-found -o json`'s output: nothing when no object was
// found, the object itself when one was asked for, else a List of those found.
func kubectlObjects(out []byte) ([]kubectlObject, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	var printed struct {
		kubectlObject
		Items []kubectlObject `json:"items"`
	}
	if err := json.Unmarshal(out, &printed); err != nil {
		return nil, err
	}
	if printed.Kind == "List" {
		return printed.Items, nil
	}
	return []kubectlObject{printed.kubectlObject}, nil
}

// run runs kubectl with args after the reader's own and returns its stdout; an error carries its stderr.
func (k kubectlReader) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, k.kubectl, append(slices.Clone(k.args), args...)...)
	cmd.Env = k.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// clusterReader returns the reader for the stack's cluster, or nil when the stack renders YAML and
// has no cluster.
func (d *deployer) clusterReader() (clusterReader, error) {
	t := d.config.Target
	if t.RenderYAMLTo != "" {
		return nil, nil
	}
	kubectl, err := d.tools.Path(toolchain.Kubectl)
	if err != nil {
		return nil, invalid(err)
	}
	r := kubectlReader{kubectl: kubectl, env: os.Environ()}
	if kubeconfig, ok := d.env["KUBECONFIG"]; ok {
		r.env = append(r.env, "KUBECONFIG="+kubeconfig)
	}
	if t.Kubeconfig != "" && d.localCluster == nil {
		r.args = append(r.args, "--kubeconfig", t.Kubeconfig)
	}
	if t.Context != "" && d.localCluster == nil {
		r.args = append(r.args, "--context", t.Context)
	}
	return r, nil
}

// clusterAndIdentity returns the stack cluster's reader (nil when the stack renders YAML and has no
// cluster) and this stack's kube.LabelStack value.
func (d *deployer) clusterAndIdentity() (clusterReader, string, error) {
	reader, err := d.clusterReader()
	if reader == nil || err != nil {
		return nil, "", err
	}
	project, err := projectName(d.tools.Root)
	if err != nil {
		return nil, "", err
	}
	return reader, project + "." + d.opts.stack, nil
}

// conflict is a claimed object this stack must not take over.
type conflict struct {
	claim program.Claim
	// owner is the stack its label names; "" for an unlabelled object this stack's state lacks.
	owner string
}

// checkSharedCluster refuses, before anything changes, a preview or an up that would take over an
// object of another stack (see the top of this file). deployment is the stack's state when the command
// has read it already (up), nil when it has not (preview).
func (d *deployer) checkSharedCluster(ctx context.Context, deployment json.RawMessage) error {
	reader, self, err := d.clusterAndIdentity()
	if reader == nil || err != nil {
		return err
	}
	claims, err := program.Claims(d.config)
	if err != nil {
		return invalid(err)
	}
	conflicts, err := findConflicts(ctx, reader, self, claims, func() (map[string]bool, error) { return d.stateObjects(ctx, deployment) })
	if err != nil {
		return err
	}
	if len(conflicts) > 0 {
		if err := d.forgetNewStack(ctx); err != nil {
			return err
		}
		return invalid(sharedClusterError(d.opts.stack, self, d.config, conflicts))
	}
	return nil
}

// forgetNewStack takes a stack that this command created in the backend, by opening it, out again
// (its stack file kept): a stack refused before the engine ran leaves the backend as it found it.
func (d *deployer) forgetNewStack(ctx context.Context) error {
	if !d.newStack {
		return nil
	}
	if _, stderr, err := d.pulumiCLI(ctx, "stack", "rm", "--yes", "--preserve-config", "--remove-backups", d.opts.stack); err != nil {
		return fmt.Errorf("removing the empty stack %q this command created: %w: %s; `pulumi stack rm --preserve-config %s` removes it",
			d.opts.stack, err, strings.TrimSpace(stderr), d.opts.stack)
	}
	d.newStack = false
	// The file backend keeps the stack's lock folder, empty, after stack rm: remove it too, so nothing
	// names the stack. A folder that is not empty holds a lock and stays.
	if dir, ok := fileBackendDir(d.env["PULUMI_BACKEND_URL"]); ok {
		if project, err := projectName(d.tools.Root); err == nil {
			_ = os.Remove(filepath.Join(dir, ".pulumi", "locks", "organization", project, d.opts.stack))
		}
	}
	return nil
}

// findConflicts reads every claim; inState, called at most once and only for an unlabelled object,
// lists the objects in this stack's state as stateKey.
func findConflicts(ctx context.Context, reader clusterReader, self string, claims []program.Claim, inState func() (map[string]bool, error)) ([]conflict, error) {
	seen, err := reader.read(ctx, claims)
	if err != nil {
		return nil, err
	}
	var conflicts []conflict
	var state map[string]bool
	for i, c := range claims {
		o := seen[i]
		switch {
		case !o.exists || o.owner == self:
		case o.owner != "":
			conflicts = append(conflicts, conflict{claim: c, owner: o.owner})
		default:
			// Unlabelled: this stack's own from before the label (its next up labels it), or not its.
			if state == nil {
				if state, err = inState(); err != nil {
					return nil, err
				}
			}
			if !state[stateKey(c.Type, c.Name)] {
				conflicts = append(conflicts, conflict{claim: c})
			}
		}
	}
	return conflicts, nil
}

// sharedClusterError says, for each conflict, whose the object is and which stack key to change.
func sharedClusterError(stack, self string, cfg *stacks.Config, conflicts []conflict) error {
	lines := make([]string, 0, len(conflicts))
	for _, c := range conflicts {
		whose := fmt.Sprintf("belongs to stack %s (its label %s=%s)", c.owner, kube.LabelStack, c.owner)
		if c.owner == "" {
			whose = fmt.Sprintf("exists without a %s label and is not in stack %s's state (a stack deployed before that label, or made outside this program)",
				kube.LabelStack, stack)
		}
		key := stacks.Namespace + ":" + c.claim.Key
		if c.claim.Resource == "apiservice" {
			lines = append(lines, fmt.Sprintf("APIService %s, the custom metrics API that %s needs, %s: a cluster has one custom metrics API, served by one stack's adapter. "+
				"Scale stack %s on CPU and memory only with `pulumi config rm --path '%s' -s %s`, or deploy it to a cluster of its own",
				c.claim.Name, key, whose, stack, key, stack))
			continue
		}
		value := namespaceSetting(cfg, c.claim.Key)
		lines = append(lines, fmt.Sprintf("namespace %s (%s: %s) %s: give stack %s namespaces of its own, e.g. `pulumi config set --path '%s' %s-%s -s %s`",
			c.claim.Name, key, value, whose, stack, key, value, stack, stack))
	}
	return fmt.Errorf("stack %q (%s) would take over objects of another stack on this cluster (nothing was changed):\n  - %s\n"+
		"Stacks sharing a cluster each need their own namespaces (README.md, \"Several stacks on one cluster\")",
		stack, self, strings.Join(lines, "\n  - "))
}

// namespaceSetting is the value of the stack key that names a claimed namespace.
func namespaceSetting(cfg *stacks.Config, key string) string {
	switch key {
	case "monitoring.namespace":
		return cfg.Monitoring.Namespace
	case "logging.namespace":
		return cfg.Logging.Namespace
	}
	return cfg.Target.Namespace
}

// checkDestroyOwnsItsObjects refuses a destroy that would delete a namespace or API in this stack's
// state (deployment) that another stack's label names: an up from before the shared-cluster checks
// took it over, and deleting it deletes the other stack's objects in it.
func (d *deployer) checkDestroyOwnsItsObjects(ctx context.Context, deployment json.RawMessage) error {
	reader, self, err := d.clusterAndIdentity()
	if reader == nil || err != nil {
		return err
	}
	owned, err := claimedInState(deployment)
	if err != nil {
		return err
	}
	var claims []program.Claim
	for _, key := range slices.Sorted(maps.Keys(owned)) {
		typ, name, _ := strings.Cut(key, " ")
		c := program.Claim{Resource: "namespace", Name: name, Type: typ}
		if typ == program.TypeAPIService {
			c.Resource = "apiservice"
		}
		claims = append(claims, c)
	}
	seen, err := reader.read(ctx, claims)
	if err != nil {
		return err
	}
	var lines []string
	for i, o := range seen {
		if o.exists && o.owner != "" && o.owner != self {
			lines = append(lines, fmt.Sprintf("%s %s belongs to stack %s (its label %s=%s)", claims[i].Resource, claims[i].Name, o.owner, kube.LabelStack, o.owner))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return invalid(fmt.Errorf("stack %q would delete objects of another stack (nothing was changed):\n  - %s\n"+
		"Take them out of stack %s's state first (`pulumi state delete URN -s %s` for each; `pulumi stack export` lists the URNs), then destroy it",
		d.opts.stack, strings.Join(lines, "\n  - "), d.opts.stack, d.opts.stack))
}

// stateObjects lists the namespaces and APIServices in this stack's state, as stateKey: in deployment,
// or when that is nil in an export of the state, its secrets left encrypted (names are all it needs).
func (d *deployer) stateObjects(ctx context.Context, deployment json.RawMessage) (map[string]bool, error) {
	if deployment == nil {
		state, err := exportStack(ctx, d.stack.Workspace(), d.opts.stack, false)
		if err != nil {
			return nil, fmt.Errorf("exporting the state of stack %q: %w", d.opts.stack, err)
		}
		deployment = state.Deployment
	}
	return claimedInState(deployment)
}

// claimedInState reads the namespaces and APIServices of an exported deployment.
func claimedInState(deployment json.RawMessage) (map[string]bool, error) {
	var state struct {
		Resources []struct {
			Type    string `json:"type"`
			Outputs struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			} `json:"outputs"`
		} `json:"resources"`
	}
	if len(deployment) > 0 {
		if err := json.Unmarshal(deployment, &state); err != nil {
			return nil, fmt.Errorf("reading the exported state: %w", err)
		}
	}
	objects := map[string]bool{}
	for _, r := range state.Resources {
		if (r.Type == program.TypeNamespace || r.Type == program.TypeAPIService) && r.Outputs.Metadata.Name != "" {
			objects[stateKey(r.Type, r.Outputs.Metadata.Name)] = true
		}
	}
	return objects, nil
}

func stateKey(typ, name string) string { return typ + " " + name }
