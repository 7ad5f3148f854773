package stacks

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"gopkg.in/yaml.v3"
)

// stackFileSettings reads a committed Pulumi.<stack>.yaml the way the CLI would hand it to the program.
// Encrypted values cannot be decrypted here; they stand in as secret placeholders.
func stackFileSettings(t *testing.T, stack string) map[string]Setting {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatalf("reading stack file: %v", err)
	}
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("parsing stack file: %v", err)
	}
	out := map[string]Setting{}
	for key, value := range file.Config {
		if m, ok := value.(map[string]any); ok {
			if _, secure := m["secure"]; secure && len(m) == 1 {
				out[key] = Setting{Value: "postgresql://encrypted-in-stack-file", Secret: true}
				continue
			}
		}
		if s, ok := value.(string); ok {
			out[key] = Setting{Value: s}
			continue
		}
		b, err := json.Marshal(value)
		if err != nil {
			t.Fatalf("encoding %s: %v", key, err)
		}
		out[key] = Setting{Value: string(b)}
	}
	return out
}

func TestCommittedDevStackIsValid(t *testing.T) {
	cfg, err := Parse("dev", stackFileSettings(t, "dev"))
	if err != nil {
		t.Fatalf("Pulumi.dev.yaml: %v", err)
	}
	expect(t, "environment", cfg.Environment, Dev)
	// The example app's image, which the local cluster's real node has (examples/app).
	expect(t, "image", cfg.App.Image, "ghcr.io/nexios-labs/nexios-example-app:0.1.0")
}

// The committed prod file lacks only the team's own database URL, which is never committed.
func TestCommittedProdStackNeedsOnlyTheDatabaseURL(t *testing.T) {
	settings := stackFileSettings(t, "prod")
	_, err := Parse("prod", settings)
	var cerr *ConfigError
	if !errors.As(err, &cerr) || len(cerr.Problems) != 1 || cerr.Problems[0].Key != "nexios:databaseUrl" {
		t.Fatalf("want exactly the missing nexios:databaseUrl, got %v", err)
	}

	settings["nexios:databaseUrl"] = Setting{Value: "postgresql://app:pw@db.internal:5432/nexios", Secret: true}
	cfg, err := Parse("prod", settings)
	if err != nil {
		t.Fatalf("Pulumi.prod.yaml with a database URL: %v", err)
	}
	expect(t, "ingress host", cfg.App.Ingress.Host, "nexios.example.com")
	expect(t, "custom metric", cfg.App.Autoscaling.CustomMetrics["http_requests_per_second"], Quantity("50"))
}

func TestCommittedStackFilesHoldNoPlaintextSecrets(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		for key, s := range stackFileSettings(t, stack) {
			if key == Namespace+":"+keyDatabaseURL && !s.Secret {
				t.Errorf("Pulumi.%s.yaml holds %s in plain text", stack, key)
			}
			var app struct {
				SecretEnv map[string]any `json:"secretEnv"`
			}
			if key == Namespace+":app" && json.Unmarshal([]byte(s.Value), &app) == nil && len(app.SecretEnv) > 0 {
				t.Errorf("Pulumi.%s.yaml holds app.secretEnv in plain text", stack)
			}
		}
	}
}

// Pulumi.yaml declares each key for `pulumi config` users; it must list exactly the keys Parse reads.
func TestProjectFileDeclaresEveryKey(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("reading Pulumi.yaml: %v", err)
	}
	var project struct {
		Name   string                    `yaml:"name"`
		Config map[string]map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(raw, &project); err != nil {
		t.Fatalf("parsing Pulumi.yaml: %v", err)
	}
	expect(t, "project name", project.Name, Namespace)
	var declared []string
	for key, decl := range project.Config {
		declared = append(declared, key)
		if decl["description"] == nil || decl["type"] == nil {
			t.Errorf("Pulumi.yaml config %q needs a type and a description", key)
		}
		// Without a default the CLI would demand the key in every stack file.
		if _, ok := decl["default"]; !ok {
			t.Errorf("Pulumi.yaml config %q needs a default", key)
		}
	}
	sort.Strings(declared)
	if !slices.Equal(declared, TopLevelKeys()) {
		t.Errorf("Pulumi.yaml declares %v, the program reads %v", declared, TopLevelKeys())
	}
}

// Project defaults reach the program as empty values; they must mean "unset", not "invalid".
func TestProjectDefaultsMeanUnset(t *testing.T) {
	cfg, err := Parse("dev", map[string]Setting{
		"nexios:app":         {Value: `{"image":"` + image + `"}`},
		"nexios:environment": {Value: ""},
		"nexios:databaseUrl": {Value: ""},
		"nexios:target":      {Value: "{}"},
		"nexios:secrets":     {Value: "{}"},
		"nexios:monitoring":  {Value: "{}"},
		"nexios:logging":     {Value: "{}"},
		"nexios:postgres":    {Value: "{}"},
	})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	// The dev profile's in-cluster PostgreSQL gives the app its URL: no configured or default one.
	expect(t, "database default", cfg.Database.URL, "")
	expect(t, "postgres default", cfg.Postgres.Enabled, true)
}
