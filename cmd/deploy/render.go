package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/program"
)

// renderedDirs are the folders the Kubernetes provider writes rendered manifests into.
var renderedDirs = []string{"0-crd", "1-manifest"}

// render writes the stack's manifests as plain YAML for GitOps. It runs the program in a throwaway
// backend with the target switched to a directory, so the real stack's state is never touched.
// Generated secrets are therefore new values, not the deployed ones; without --include-secrets every
// Secret's values are blanked, leaving its keys as the list of what a secret manager must supply.
func (d *deployer) render(ctx context.Context) error {
	out, err := filepath.Abs(d.opts.out)
	if err != nil {
		return invalid(fmt.Errorf("resolving --out: %w", err))
	}
	for _, dir := range renderedDirs {
		if err := os.RemoveAll(filepath.Join(out, dir)); err != nil {
			return fmt.Errorf("clearing earlier renders in %s: %w", out, err)
		}
	}
	scratch, err := os.MkdirTemp("", "nexios-render-")
	if err != nil {
		return fmt.Errorf("creating a scratch folder: %w", err)
	}
	defer os.RemoveAll(scratch)
	project, err := os.ReadFile(filepath.Join(d.tools.Root, "Pulumi.yaml"))
	if err != nil {
		return fmt.Errorf("reading Pulumi.yaml: %w", err)
	}
	if err := os.WriteFile(filepath.Join(scratch, "Pulumi.yaml"), project, 0o644); err != nil {
		return fmt.Errorf("copying Pulumi.yaml: %w", err)
	}
	if err := os.Mkdir(filepath.Join(scratch, "state"), 0o755); err != nil {
		return fmt.Errorf("creating scratch state: %w", err)
	}

	// The scratch stack's file is the real one's with the target switched: object values keep their
	// type, and secrets stay the real file's ciphertexts under its own salt and passphrase.
	stackFile, err := renderStackFile(filepath.Join(d.tools.Root, "Pulumi."+d.opts.stack+".yaml"), out, d.config.Target.Namespace, string(d.config.Environment))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(scratch, "Pulumi.render.yaml"), stackFile, 0o600); err != nil {
		return fmt.Errorf("writing the scratch stack's file: %w", err)
	}
	env := map[string]string{}
	for k, v := range d.env {
		env[k] = v
	}
	env["PULUMI_BACKEND_URL"] = "file://" + filepath.ToSlash(filepath.Join(scratch, "state"))
	pulumiCmd, err := newPulumiCommand(d.tools.Root)
	if err != nil {
		return fmt.Errorf("using the Pulumi CLI: %w", err)
	}
	scratchStack, err := auto.UpsertStackLocalSource(ctx, "render", scratch,
		auto.Program(program.Run), auto.Pulumi(pulumiCmd), auto.EnvVars(env))
	if err != nil {
		return fmt.Errorf("creating the scratch stack: %w", err)
	}
	if _, err := scratchStack.Up(ctx, optup.ProgressStreams(io.Discard), optup.ErrorProgressStreams(d.stderr)); err != nil {
		return fmt.Errorf("rendering stack %q: %w", d.opts.stack, err)
	}

	files, err := renderedFiles(out)
	if err != nil {
		return err
	}
	if !d.opts.includeSecrets {
		for _, f := range files {
			if err := blankSecretValues(f); err != nil {
				return err
			}
		}
	}
	for _, f := range files {
		rel, _ := filepath.Rel(out, f)
		fmt.Fprintln(d.stdout, rel)
	}
	note := "secret values blanked (--include-secrets keeps them)"
	if d.opts.includeSecrets {
		note = "secret values INCLUDED in plain text"
	}
	fmt.Fprintf(d.stdout, "stack %s: %d manifests in %s; %s\n", d.opts.stack, len(files), out, note)
	return nil
}

func renderedFiles(out string) ([]string, error) {
	var files []string
	for _, dir := range renderedDirs {
		err := filepath.WalkDir(filepath.Join(out, dir), func(path string, e fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if !e.IsDir() && strings.HasSuffix(path, ".yaml") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing rendered manifests: %w", err)
		}
	}
	return files, nil
}

// blankSecretValues empties the values of data and stringData in every Secret document of a file.
func blankSecretValues(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var docs []*yaml.Node
	changed := false
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("parsing %s: %w", path, err)
		}
		if blankSecret(&doc) {
			changed = true
		}
		docs = append(docs, &doc)
	}
	if !changed {
		return nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, doc := range docs {
		if err := enc.Encode(doc); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func blankSecret(doc *yaml.Node) bool {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return false
	}
	m := doc.Content[0]
	if value(m, "kind") == nil || value(m, "kind").Value != "Secret" {
		return false
	}
	for _, field := range []string{"data", "stringData"} {
		if data := value(m, field); data != nil && data.Kind == yaml.MappingNode {
			for i := 1; i < len(data.Content); i += 2 {
				data.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ""}
			}
		}
	}
	return true
}

// renderStackFile returns the stack file at path with nexios:target pointing at the directory out
// (keeping the namespace) and nexios:environment set, since the scratch stack's name ("render") says
// nothing about it.
func renderStackFile(path, out, namespace, environment string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the stack file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s is not a stack file", path)
	}
	root := doc.Content[0]
	config := value(root, "config")
	if config == nil {
		config = &yaml.Node{Kind: yaml.MappingNode}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "config"}, config)
	}
	var target yaml.Node
	if err := target.Encode(map[string]string{"renderYamlTo": out, "namespace": namespace}); err != nil {
		return nil, fmt.Errorf("encoding the render target: %w", err)
	}
	setValue(config, "nexios:target", &target)
	setValue(config, "nexios:environment", &yaml.Node{Kind: yaml.ScalarNode, Value: environment})
	data, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("encoding the scratch stack's file: %w", err)
	}
	return data, nil
}

// setValue sets key in a mapping node to v.
func setValue(m *yaml.Node, key string, v *yaml.Node) {
	if existing := value(m, key); existing != nil {
		*existing = *v
		return
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}

// value returns the value node of key in a mapping node, or nil.
func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
