package stacks

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readProjectFile(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return raw
}

func TestCheckFiles(t *testing.T) {
	project := readProjectFile(t, "Pulumi.yaml")
	const app = "  nexios:app:\n    image: ghcr.io/nexios-labs/nexios-app:1.0.0\n"
	tests := []struct {
		name      string
		stack     string
		project   []byte // the committed Pulumi.yaml when nil
		file      string
		wantKeys  []string // every problem's key, sorted; nil for a valid file
		wantError string   // a parse error instead of problems
	}{
		{name: "committed dev file", stack: "dev", file: string(readProjectFile(t, "Pulumi.dev.yaml"))},
		{name: "committed prod file lacks its database URL", stack: "prod", file: string(readProjectFile(t, "Pulumi.prod.yaml")),
			wantKeys: []string{"nexios:databaseUrl"}},
		{name: "encrypted database URL is present and secret", stack: "prod",
			file: string(readProjectFile(t, "Pulumi.prod.yaml")) + "  nexios:databaseUrl:\n    secure: v1:c2FsdA==:Y2lwaGVy\n"},
		{name: "plain database URL", stack: "dev", file: "config:\n" + app + "  nexios:databaseUrl: postgresql://u:p@db/x\n  nexios:postgres:\n    enabled: false\n",
			wantKeys: []string{"nexios:databaseUrl"}},
		{name: "database URL beside the in-cluster PostgreSQL", stack: "dev", file: "config:\n" + app + "  nexios:databaseUrl:\n    secure: v1:c2FsdA==:Y2lwaGVy\n",
			wantKeys: []string{"nexios:postgres.enabled"}},
		{name: "prod with the in-cluster PostgreSQL needs no database URL", stack: "prod",
			file: string(readProjectFile(t, "Pulumi.prod.yaml")) + "  nexios:postgres:\n    enabled: true\n"},
		{name: "misspelled key", stack: "dev", file: "config:\n" + app + "    replcas: 2\n",
			wantKeys: []string{"nexios:app.replcas"}},
		{name: "mistyped value and unknown key together", stack: "dev", file: "config:\n" + app + "    replicas: three\n    replicaz: 2\n",
			wantKeys: []string{"nexios:app.replicas", "nexios:app.replicaz"}},
		{name: "key without namespace belongs to the project", stack: "dev",
			file:     "config:\n  app:\n    image: ghcr.io/nexios-labs/nexios-app:1.0.0\n    volumes:\n      - name: data\n        mountPath: 5\n        size: 1Gi\n        accessMode: ReadWriteOnce\n",
			wantKeys: []string{"nexios:app.volumes[0].mountPath"}},
		{name: "encrypted value inside an object makes it secret", stack: "dev",
			file: "config:\n" + app + "    secretEnv:\n      API_TOKEN:\n        secure: v1:c2FsdA==:Y2lwaGVy\n"},
		{name: "plain value where a secret belongs", stack: "dev", file: "config:\n" + app + "    secretEnv:\n      API_TOKEN: t0k3n\n",
			wantKeys: []string{"nexios:app.secretEnv.API_TOKEN"}},
		{name: "encrypted webhook cannot be judged", stack: "dev",
			file: "config:\n" + app + "  nexios:monitoring:\n    alertmanager:\n      webhookUrl:\n        secure: v1:c2FsdA==:Y2lwaGVy\n"},
		{name: "a wholly encrypted object cannot be judged", stack: "dev",
			file: "config:\n  nexios:app:\n    secure: v1:c2FsdA==:Y2lwaGVy\n"},
		{name: "problems outside encrypted values are still reported", stack: "dev",
			file:     "config:\n  nexios:app:\n    secure: v1:c2FsdA==:Y2lwaGVy\n  nexios:logging:\n    retentionDayz: 3\n",
			wantKeys: []string{"nexios:logging.retentionDayz"}},
		{name: "ESC environments supply values the files do not hold", stack: "dev",
			file: "environment:\n  - nexios/dev\nconfig:\n  nexios:logging:\n    enabled: true\n"},
		{name: "project default applies to a key the stack does not set", stack: "dev",
			project: []byte("name: nexios\nconfig:\n  app:\n    type: object\n    default:\n      image: ghcr.io/nexios-labs/nexios-app:1.0.0\n"),
			file:    "config: {}\n"},
		{name: "project default does not hide a missing image", stack: "dev",
			project:  []byte("name: nexios\nconfig:\n  app:\n    type: object\n    default: {}\n"),
			file:     "config: {}\n",
			wantKeys: []string{"nexios:app.image"}},
		{name: "unknown top-level key", stack: "dev", file: "config:\n" + app + "  nexios:replicas: 3\n",
			wantKeys: []string{"nexios:replicas"}},
		{name: "stack named after no environment", stack: "staging", file: "config:\n" + app,
			wantKeys: []string{"nexios:environment"}},
		{name: "malformed stack file", stack: "dev", file: "config:\n  nexios:app: [\n", wantError: "parsing the stack file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.project
			if p == nil {
				p = project
			}
			err := CheckFiles(tt.stack, p, []byte(tt.file))
			if tt.wantError != "" {
				var cerr *ConfigError
				if err == nil || errors.As(err, &cerr) || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("want a parse error containing %q, got %v", tt.wantError, err)
				}
				return
			}
			var keys []string
			if err != nil {
				var cerr *ConfigError
				if !errors.As(err, &cerr) {
					t.Fatalf("error is %T, want *ConfigError: %v", err, err)
				}
				for _, p := range cerr.Problems {
					keys = append(keys, p.Key)
				}
				slices.Sort(keys)
			}
			if !slices.Equal(keys, tt.wantKeys) {
				t.Errorf("problems at %v, want %v; error: %v", keys, tt.wantKeys, err)
			}
		})
	}
}

// The files hand the program what the engine would: strings as they are, objects as JSON, secrecy
// wherever a part is encrypted.
func TestSettingsFromFiles(t *testing.T) {
	settings, encrypted, err := settingsFromFiles(
		[]byte("name: nexios\nconfig:\n  environment:\n    type: string\n    default: \"\"\n"),
		[]byte("config:\n  nexios:app:\n    replicas: 2\n    env:\n      A: \"1\"\n    secretEnv:\n      T:\n        secure: v1:x\n  nexios:databaseUrl:\n    secure: v1:y\n  kubernetes:context: kind\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Setting{
		"nexios:app":         {Value: `{"env":{"A":"1"},"replicas":2,"secretEnv":{"T":"` + encryptedPlaceholder + `"}}`, Secret: true},
		"nexios:databaseUrl": {Value: encryptedPlaceholder, Secret: true},
		"nexios:environment": {Value: ""},
		"kubernetes:context": {Value: "kind"},
	}
	expectDeep(t, "settings", settings, want)
	slices.Sort(encrypted)
	expectDeep(t, "encrypted", encrypted, []string{"nexios:app.secretEnv.T", "nexios:databaseUrl"})
}
