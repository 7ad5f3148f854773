package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"
	resourceurn "github.com/pulumi/pulumi/sdk/v3/go/common/resource/urn"

	"github.com/nexios-labs/nexios-k8s/stacks"
)

// backup writes the stack's state to --out as `pulumi stack export` does: the deployment with every
// secret still encrypted by the stack's secrets provider (a passphrase stack's ciphertext opens only
// with its passphrase), so the file is as safe to store as the state itself. An existing file is
// kept unless --overwrite: a backup must never silently replace an older one. The file is written
// whole or not at all.
//
// The Automation API's Stack.Export runs `pulumi stack export --show-secrets`: its state holds every
// secret in plain text. So the CLI is run here without that flag, and the result is checked to hold
// no plaintext secret before anything is written.
func (d *deployer) backup(ctx context.Context) error {
	if !d.opts.overwrite {
		if _, err := os.Lstat(d.opts.out); err == nil {
			return invalid(fmt.Errorf("--out %s already exists: pass --overwrite to replace it, or name another file", d.opts.out))
		}
	}
	state, err := exportStack(ctx, d.stack.Workspace(), d.opts.stack, false)
	if err != nil {
		return fmt.Errorf("exporting the state of stack %q: %w", d.opts.stack, err)
	}
	n, err := plaintextSecrets(state.Deployment)
	if err != nil {
		return fmt.Errorf("stack %q: %w", d.opts.stack, err)
	}
	if n > 0 {
		return fmt.Errorf("stack %q: the exported state holds %d secret(s) in plain text; nothing was written", d.opts.stack, n)
	}
	info, err := inspectBackup(state)
	if err != nil {
		return fmt.Errorf("stack %q: %w", d.opts.stack, err)
	}
	if info.resources == 0 {
		// restore refuses such a file: it would only make the stack forget what it deployed.
		return fmt.Errorf("stack %q has no resources in its state: nothing to back up (deploy it with `deploy up %s` first); nothing was written", d.opts.stack, d.opts.stack)
	}
	raw, err := json.MarshalIndent(state, "", "    ")
	if err != nil {
		return fmt.Errorf("encoding the state of stack %q: %w", d.opts.stack, err)
	}
	if err := writeNewFile(d.opts.out, append(raw, '\n'), d.opts.overwrite); err != nil {
		return fmt.Errorf("writing the backup: %w", err)
	}
	fmt.Fprintf(d.stdout, "stack %s: %d resources (state of %s) backed up to %s, secrets encrypted; restore with `deploy restore %s --from %s`\n",
		d.opts.stack, info.resources, info.updated.Format(time.RFC3339), d.opts.out, d.opts.stack, d.opts.out)
	return nil
}

// restore replaces the stack's state with a backup of the same stack (`pulumi stack import`). The
// cluster is not touched: `deploy preview STACK --expect-no-changes` then compares the restored state
// with it. Replacing a state that holds resources forgets whatever was deployed since the backup, so
// it needs --confirm STACK, and so does any restore of a prod stack; restoring into an empty state
// (a lost or deleted state) does not.
func (d *deployer) restore(ctx context.Context) error {
	raw, err := os.ReadFile(d.opts.from)
	if err != nil {
		return invalid(fmt.Errorf("--from: reading the backup: %w", err))
	}
	var backup apitype.UntypedDeployment
	if err := json.Unmarshal(raw, &backup); err != nil {
		return invalid(fmt.Errorf("--from %s is not a state backup (JSON of `deploy backup` or `pulumi stack export`): %w", d.opts.from, err))
	}
	want, err := inspectBackup(backup)
	if err != nil {
		return invalid(fmt.Errorf("--from %s: %w", d.opts.from, err))
	}
	project, err := projectName(d.tools.Root)
	if err != nil {
		return err
	}
	if err := want.matches(project, d.opts.stack); err != nil {
		return invalid(fmt.Errorf("--from %s: %w", d.opts.from, err))
	}
	current, err := d.stack.Export(ctx)
	if err != nil {
		return fmt.Errorf("exporting the current state of stack %q: %w", d.opts.stack, err)
	}
	have, err := inspectBackup(current)
	if err != nil {
		return fmt.Errorf("stack %q: %w", d.opts.stack, err)
	}
	if err := restoreAllowed(d.opts.stack, d.config.Environment, d.opts.confirm, have, want); err != nil {
		return invalid(err)
	}
	if err := d.stack.Import(ctx, backup); err != nil {
		return fmt.Errorf("importing the backup into stack %q: %w", d.opts.stack, err)
	}
	fmt.Fprintf(d.stdout, "stack %s: state of %s restored from %s (%d resources); `deploy preview %s --expect-no-changes` compares it with the cluster\n",
		d.opts.stack, want.updated.Format(time.RFC3339), d.opts.from, want.resources, d.opts.stack)
	return nil
}

// plaintextSecrets counts the secrets a deployment holds decrypted: Pulumi marks a secret value with
// the signature sig.Key: sig.Secret and keeps it under "ciphertext" when encrypted, "plaintext" when not.
func plaintextSecrets(deployment json.RawMessage) (int, error) {
	var doc any
	if err := json.Unmarshal(deployment, &doc); err != nil {
		return 0, fmt.Errorf("reading the state's deployment: %w", err)
	}
	count := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v[sig.Key] == sig.Secret {
				if _, ok := v["plaintext"]; ok {
					count++
				}
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(doc)
	return count, nil
}

// stateInfo is what backup and restore need to know of a state: whose it is, how much it holds and
// when it was last written.
type stateInfo struct {
	project, stack string
	resources      int
	updated        time.Time
}

// inspectBackup reads an exported state. A state with resources names its project and stack in its
// root resource's URN.
func inspectBackup(state apitype.UntypedDeployment) (stateInfo, error) {
	if state.Version == 0 || len(state.Deployment) == 0 {
		return stateInfo{}, errors.New("the state has no version or no deployment")
	}
	var deployment struct {
		Manifest struct {
			Time time.Time `json:"time"`
		} `json:"manifest"`
		Resources []struct {
			URN  resourceurn.URN `json:"urn"`
			Type string          `json:"type"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(state.Deployment, &deployment); err != nil {
		return stateInfo{}, fmt.Errorf("reading the state's deployment: %w", err)
	}
	info := stateInfo{resources: len(deployment.Resources), updated: deployment.Manifest.Time}
	for _, r := range deployment.Resources {
		if r.Type == stackType {
			if !r.URN.IsValid() {
				return stateInfo{}, fmt.Errorf("the stack resource's URN %q is not valid", r.URN)
			}
			info.project, info.stack = string(r.URN.Project()), string(r.URN.Stack())
		}
	}
	if info.resources > 0 && info.stack == "" {
		return stateInfo{}, fmt.Errorf("the state's %d resources include no %s", info.resources, stackType)
	}
	return info, nil
}

// matches checks that a backup is of this project's stack: another stack's state would make this one
// manage, and later delete, that stack's objects. An empty backup restores nothing.
func (s stateInfo) matches(project, stack string) error {
	switch {
	case s.resources == 0:
		return errors.New("the backup holds no resources; restoring it would only forget what the stack deploys")
	case s.project != project || s.stack != stack:
		return fmt.Errorf("the backup is of stack %q of project %q, not of stack %q of project %q; restore it into its own stack",
			s.stack, s.project, stack, project)
	}
	return nil
}

// restoreAllowed decides whether a restore may replace the current state: freely when that state is
// empty, with --confirm STACK when it holds resources (whatever was deployed since the backup is
// forgotten by the state, though it stays in the cluster) and always for a prod stack.
func restoreAllowed(stack string, env stacks.Environment, confirm string, have, want stateInfo) error {
	if confirm == stack {
		return nil
	}
	if env == stacks.Prod {
		return fmt.Errorf("stack %q is a prod stack: restoring replaces its state (now %d resources, written %s) with the backup's (%d resources, written %s); "+
			"if that is really meant, run again with --confirm %s", stack, have.resources, have.updated.Format(time.RFC3339), want.resources, want.updated.Format(time.RFC3339), stack)
	}
	if have.resources > 0 {
		return fmt.Errorf("stack %q has a state (%d resources, written %s) that restoring replaces with the backup's (%d resources, written %s); "+
			"what was deployed since the backup would stay in the cluster unknown to the state. If that is meant, run again with --confirm %s",
			stack, have.resources, have.updated.Format(time.RFC3339), want.resources, want.updated.Format(time.RFC3339), stack)
	}
	return nil
}

// writeNewFile writes data to path through a temporary file in the same folder, so that path holds
// either its old content or all of data. Without overwrite, an existing path is left alone and is an
// error, even one created since the caller last looked.
func writeNewFile(path string, data []byte, overwrite bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if overwrite {
		return os.Rename(tmp.Name(), path)
	}
	// A hard link fails when path exists, where a rename would replace it.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: pass --overwrite to replace it", path)
		}
		return err
	}
	return nil
}
