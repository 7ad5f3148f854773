package stacks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// keyPaths lists the documented form of every leaf configuration key below prefix.
func keyPaths(prefix string, t reflect.Type) []string {
	var paths []string
	for name, ft := range jsonFields(t) {
		path := prefix + name
		if ft.Kind() == reflect.Struct {
			// A grouping: its leaves get the rows.
			paths = append(paths, keyPaths(path+".", ft)...)
			continue
		}
		paths = append(paths, path)
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			paths = append(paths, keyPaths(path+"[].", ft.Elem())...)
		}
		// A map of mappings: the entry's name is the user's, its keys are ours.
		if ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct {
			paths = append(paths, keyPaths(path+".<name>.", ft.Elem())...)
		}
	}
	return paths
}

// The README's configuration reference must name every key the program accepts.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatalf("reading README.md: %v", err)
	}
	readme := string(raw)
	paths := append(keyPaths("", reflect.TypeOf(Config{})), keyEnvironment, keyDatabaseURL)
	for _, path := range paths {
		if !strings.Contains(readme, "| `"+path+"` |") {
			t.Errorf("README.md has no configuration row for `%s`", path)
		}
	}
}

// The README's example of a stack's own scaling metric is a valid configuration (with the image every
// stack sets), so the documentation cannot drift from the checks.
func TestREADMEScalingMetricExampleIsValid(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatalf("reading README.md: %v", err)
	}
	_, section, found := strings.Cut(string(raw), "### Scaling metrics of your own\n")
	_, block, fenced := strings.Cut(section, "```yaml\n")
	block, _, closed := strings.Cut(block, "```")
	if !found || !fenced || !closed {
		t.Fatal(`README.md has no yaml example under "### Scaling metrics of your own"`)
	}
	var file struct {
		Config map[string]map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal([]byte(block), &file); err != nil {
		t.Fatalf("the example is not YAML: %v", err)
	}
	app := file.Config["nexios:app"]
	if app == nil {
		t.Fatal("the example sets no nexios:app")
	}
	app["image"] = image
	encoded, err := json.Marshal(app)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("dev", map[string]Setting{"nexios:app": {Value: string(encoded)}})
	if err != nil {
		t.Fatalf("the README's example: %v", err)
	}
	if a := cfg.App.Autoscaling; len(a.MetricDefinitions) != 1 || len(a.CustomMetrics) != 1 {
		t.Errorf("the example declares %d definitions and %d custom metrics, want one of each", len(a.MetricDefinitions), len(a.CustomMetrics))
	}
}
