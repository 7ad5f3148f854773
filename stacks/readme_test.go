package stacks

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
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
