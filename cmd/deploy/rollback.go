package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/opthistory"
	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/program"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// Update kinds and results in a stack's history, as `pulumi stack history --json` spells them.
const (
	historyKindUpdate    = "update"
	historyResultSuccess = "succeeded"
)

// rollback re-applies the configuration of an earlier successful update (--to N, or the last one before
// the stack's latest update) through up's own gate: refresh, plan with risks, refusal of a destructive
// plan without --allow-destructive. The old configuration reaches the program through a scratch copy
// of the project whose stack file holds it, against the same backend and stack; the user's stack file
// is not touched, and the program is the current code.
func (d *deployer) rollback(ctx context.Context) error {
	history, err := d.stack.History(ctx, 0, 0, opthistory.ShowSecrets(false))
	if err != nil {
		return fmt.Errorf("reading the history of stack %q: %w", d.opts.stack, err)
	}
	target, err := rollbackTarget(numbered(history), d.opts.to)
	if err != nil {
		return invalid(fmt.Errorf("stack %q: %w", d.opts.stack, err))
	}
	current, err := d.stack.GetAllConfig(ctx)
	if err != nil {
		return fmt.Errorf("reading the configuration of stack %q: %w", d.opts.stack, err)
	}
	old := target.Config
	if slices.ContainsFunc(slices.Collect(maps.Values(old)), func(v auto.ConfigValue) bool { return v.Secret }) {
		if old, err = d.secretConfigOf(ctx, target.Version); err != nil {
			return err
		}
	}
	fmt.Fprintf(d.stdout, "stack %s: rolling back to the configuration of update %d (%s); keys that differ from %s: %s\n",
		d.opts.stack, target.Version, target.StartTime, stackFileName(d.opts.stack), describeKeys(differingKeys(current, old)))

	scratch, err := os.MkdirTemp("", "nexios-rollback-")
	if err != nil {
		return fmt.Errorf("creating a scratch folder: %w", err)
	}
	// The scratch stack file holds secrets encrypted only, but nothing of it is left behind.
	defer os.RemoveAll(scratch)
	if err := d.writeRollbackProject(ctx, scratch, target.Version, old, current); err != nil {
		return err
	}
	if err := checkStackFiles(scratch, d.opts.stack); err != nil {
		return invalid(fmt.Errorf("the configuration of update %d is not valid for the current program (fix it with `deploy up` from a corrected stack file instead): %w", target.Version, err))
	}
	pulumiCmd, err := newPulumiCommand(d.tools.Root)
	if err != nil {
		return fmt.Errorf("using the Pulumi CLI: %w", err)
	}
	d.stack, err = auto.SelectStackLocalSource(ctx, d.opts.stack, scratch,
		auto.Program(program.Run), auto.Pulumi(pulumiCmd), auto.EnvVars(d.env))
	if err != nil {
		return fmt.Errorf("opening stack %q with the configuration of update %d: %w", d.opts.stack, target.Version, err)
	}
	if d.config, err = d.validatedConfig(ctx); err != nil {
		return fmt.Errorf("the configuration of update %d: %w", target.Version, err)
	}
	if _, err := d.up(ctx); err != nil {
		return err
	}
	fmt.Fprintf(d.stdout, "\nstack %s: rolled back to the configuration of update %d. %s still holds the newer configuration: "+
		"the next `deploy up %s` applies it again unless you revert that file (e.g. with git). A rollback restores configuration, not code: "+
		"the program that ran is the current one. Generated secrets whose rotation value changed back are generated anew, not restored.\n",
		d.opts.stack, target.Version, stackFileName(d.opts.stack), d.opts.stack)
	return nil
}

func stackFileName(stack string) string { return "Pulumi." + stack + ".yaml" }

// numbered returns the history (newest first, as the CLI lists it) with its versions. A file backend
// records none (every run is version 0): its runs are numbered as the Pulumi Cloud numbers them, 1 the
// oldest run of any kind.
func numbered(history []auto.UpdateSummary) []auto.UpdateSummary {
	if slices.ContainsFunc(history, func(u auto.UpdateSummary) bool { return u.Version != 0 }) {
		return history
	}
	out := slices.Clone(history)
	for i := range out {
		out[i].Version = len(out) - i
	}
	return out
}

// rollbackTarget picks the update to roll back to from a stack's history (any order): version to, or
// when to is 0 the last successful update before the stack's latest update. Only successful updates
// qualify; every refusal names the versions that would.
func rollbackTarget(history []auto.UpdateSummary, to int) (auto.UpdateSummary, error) {
	updates := slices.Clone(history)
	slices.SortFunc(updates, func(a, b auto.UpdateSummary) int { return b.Version - a.Version })
	var candidates []string
	for _, u := range updates {
		if u.Kind == historyKindUpdate && u.Result == historyResultSuccess {
			candidates = append(candidates, fmt.Sprintf("%d (%s)", u.Version, u.StartTime))
		}
	}
	available := "none"
	if len(candidates) > 0 {
		available = strings.Join(candidates, ", ")
	}
	if to == 0 {
		latest := slices.IndexFunc(updates, func(u auto.UpdateSummary) bool { return u.Kind == historyKindUpdate })
		if latest >= 0 {
			for _, u := range updates[latest+1:] {
				if u.Kind == historyKindUpdate && u.Result == historyResultSuccess {
					return u, nil
				}
			}
		}
		return auto.UpdateSummary{}, fmt.Errorf("no successful update before the latest one to roll back to (successful updates: %s); `pulumi stack history` lists them", available)
	}
	i := slices.IndexFunc(updates, func(u auto.UpdateSummary) bool { return u.Version == to })
	switch {
	case i < 0:
		return auto.UpdateSummary{}, fmt.Errorf("--to %d: the history has no version %d; successful updates to roll back to: %s", to, to, available)
	case updates[i].Kind != historyKindUpdate:
		return auto.UpdateSummary{}, fmt.Errorf("--to %d: version %d is a %s, not an update; successful updates to roll back to: %s", to, to, updates[i].Kind, available)
	case updates[i].Result != historyResultSuccess:
		return auto.UpdateSummary{}, fmt.Errorf("--to %d: update %d did not succeed (%s); successful updates to roll back to: %s", to, to, updates[i].Result, available)
	}
	return updates[i], nil
}

// differingKeys lists the configuration keys whose values differ between two configurations, secrets
// included (compared, never shown), objects compared by content.
func differingKeys(current, target auto.ConfigMap) []string {
	var keys []string
	for _, key := range slices.Sorted(maps.Keys(current)) {
		if t, ok := target[key]; !ok || !sameValue(current[key].Value, t.Value) {
			keys = append(keys, key)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(target)) {
		if _, ok := current[key]; !ok {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys
}

func describeKeys(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}

// sameValue compares two configuration values, objects by their JSON content (key order and spacing
// differ between the CLI's commands).
func sameValue(a, b string) bool {
	if a == b {
		return true
	}
	var ja, jb any
	if json.Unmarshal([]byte(a), &ja) != nil || json.Unmarshal([]byte(b), &jb) != nil {
		return false
	}
	return reflect.DeepEqual(ja, jb)
}

// writeRollbackProject lays out the scratch project: the project file and a stack file holding the
// configuration old (of update version, secrets decrypted) under the current stack file's encryption settings. Plain values are
// written as they were; a secret the stack still holds unchanged keeps the current file's ciphertext;
// a secret string that changed since is encrypted again by the CLI, reading it on stdin, so no plain
// secret reaches a file, an argument or the output.
func (d *deployer) writeRollbackProject(ctx context.Context, scratch string, version int, old, current auto.ConfigMap) error {
	project, err := os.ReadFile(filepath.Join(d.tools.Root, "Pulumi.yaml"))
	if err != nil {
		return fmt.Errorf("reading Pulumi.yaml: %w", err)
	}
	if err := os.WriteFile(filepath.Join(scratch, "Pulumi.yaml"), project, 0o644); err != nil {
		return fmt.Errorf("copying Pulumi.yaml: %w", err)
	}
	path := filepath.Join(d.tools.Root, stackFileName(d.opts.stack))
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the stack file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("parsing %s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return invalid(fmt.Errorf("%s is not a stack file", path))
	}
	currentFile := doc.Content[0]
	currentConfig := value(currentFile, "config")
	if value(currentFile, "environment") != nil {
		return invalid(fmt.Errorf("%s imports Pulumi ESC environments, whose values are not in the stack's history: roll back by reverting the file and the environments, then `deploy up %s`", path, d.opts.stack))
	}

	config := &yaml.Node{Kind: yaml.MappingNode}
	var reencrypt []string
	for _, key := range slices.Sorted(maps.Keys(old)) {
		v := old[key]
		if !v.Secret {
			node, err := plainNode(v.Value)
			if err != nil {
				return fmt.Errorf("update %d, key %s: %w", version, key, err)
			}
			setValue(config, key, node)
			continue
		}
		if cur, ok := current[key]; ok && cur.Secret && sameValue(cur.Value, v.Value) && currentConfig != nil {
			if node := configNode(currentConfig, key); node != nil {
				setValue(config, key, node)
				continue
			}
		}
		if json.Valid([]byte(v.Value)) && strings.HasPrefix(strings.TrimSpace(v.Value), "{") {
			return invalid(fmt.Errorf("%s holds secret values and changed since update %d; the history does not say which of its values were secret, "+
				"so it cannot be re-encrypted as it was: roll back by reverting %s (e.g. with git) and running `deploy up %s`",
				key, version, stackFileName(d.opts.stack), d.opts.stack))
		}
		reencrypt = append(reencrypt, key)
	}

	out := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(currentFile.Content); i += 2 {
		// The encryption settings (encryptionsalt, secretsprovider, encryptedkey) are the current ones,
		// which the kept ciphertexts were made with.
		if k := currentFile.Content[i].Value; k != "config" {
			setValue(out, k, currentFile.Content[i+1])
		}
	}
	setValue(out, "config", config)
	data, err := yaml.Marshal(out)
	if err != nil {
		return fmt.Errorf("encoding the scratch stack file: %w", err)
	}
	scratchFile := filepath.Join(scratch, stackFileName(d.opts.stack))
	if err := os.WriteFile(scratchFile, data, 0o600); err != nil {
		return fmt.Errorf("writing the scratch stack file: %w", err)
	}
	if len(reencrypt) == 0 {
		return nil
	}
	pulumiCmd, err := newPulumiCommand(d.tools.Root)
	if err != nil {
		return fmt.Errorf("using the Pulumi CLI: %w", err)
	}
	var env []string
	for k, v := range d.env {
		env = append(env, k+"="+v)
	}
	for _, key := range reencrypt {
		_, stderr, _, err := pulumiCmd.Run(ctx, scratch, strings.NewReader(old[key].Value), nil, nil, env,
			"config", "set", "--stack", d.opts.stack, "--secret", key)
		if err != nil {
			// stderr only: the CLI's stdout is not needed, and an error is printed.
			return fmt.Errorf("encrypting %s of update %d for the rollback: %s", key, version, strings.TrimSpace(stderr))
		}
	}
	return nil
}

// secretConfigOf reads one update's configuration with its secrets decrypted, in memory only. The CLI's
// output is never passed on: on failure it could hold them.
func (d *deployer) secretConfigOf(ctx context.Context, version int) (auto.ConfigMap, error) {
	history, err := d.stack.History(ctx, 0, 0, opthistory.ShowSecrets(true))
	if err != nil {
		return nil, fmt.Errorf("reading the secret configuration of update %d of stack %q failed (the CLI's output is withheld, since it may hold secrets); "+
			"`pulumi stack history --stack %s` shows whether the history can be read", version, d.opts.stack, d.opts.stack)
	}
	for _, u := range numbered(history) {
		if u.Version == version {
			return u.Config, nil
		}
	}
	return nil, fmt.Errorf("the history of stack %q with secrets has no update %d", d.opts.stack, version)
}

// plainNode is the stack file's node for a plain value from the history: an object (the CLI's JSON)
// as a YAML mapping or sequence, anything else as a string.
func plainNode(v string) (*yaml.Node, error) {
	var node yaml.Node
	trimmed := strings.TrimSpace(v)
	if (strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[")) && json.Valid([]byte(v)) {
		var obj any
		if err := json.Unmarshal([]byte(v), &obj); err != nil {
			return nil, err
		}
		if err := node.Encode(obj); err != nil {
			return nil, fmt.Errorf("encoding it for the stack file: %w", err)
		}
		return &node, nil
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}, nil
}

// configNode finds key in a stack file's config mapping, which may spell a key of the project's own
// namespace without it.
func configNode(config *yaml.Node, key string) *yaml.Node {
	if node := value(config, key); node != nil {
		return node
	}
	if short, ok := strings.CutPrefix(key, stacks.Namespace+":"); ok {
		return value(config, short)
	}
	return nil
}
