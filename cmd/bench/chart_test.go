package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"gopkg.in/yaml.v3"
)

func TestEscapeTemplateRendersToItself(t *testing.T) {
	for _, text := range []string{
		"plain: yaml\n",
		`summary: "{{ $labels.instance }} is down for {{ humanizeDuration $value }}"`,
		"legend: '{{pod}}'\n",
		"{{- trimmed -}}",
		"{{{ triple }}}",
		"}} alone {{",
		`already escaped: {{"{{"}}`,
	} {
		tmpl, err := template.New("t").Parse(escapeTemplate(text))
		if err != nil {
			t.Errorf("%q: escaped text is no template: %v", text, err)
			continue
		}
		var out strings.Builder
		if err := tmpl.Execute(&out, nil); err != nil {
			t.Errorf("%q: %v", text, err)
			continue
		}
		if out.String() != text {
			t.Errorf("%q rendered as %q", text, out.String())
		}
	}
}

func TestWriteChart(t *testing.T) {
	render := t.TempDir()
	files := map[string]string{
		"1-manifest/v1-configmap-mon-rules.yaml":   "kind: ConfigMap\ndata:\n  rule: '{{ $labels.job }}'\n",
		"1-manifest/v1-namespace-default-app.yaml": "kind: Namespace\nmetadata: {name: app}\n",
	}
	var paths []string
	for name, content := range files {
		path := filepath.Join(render, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	chart := filepath.Join(t.TempDir(), "chart")
	if err := writeChart(chart, "nexios-dev", paths); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		APIVersion    string `yaml:"apiVersion"`
		Name, Version string
	}
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		t.Fatalf("Chart.yaml: %v", err)
	}
	if meta.APIVersion != "v2" || meta.Name != "nexios-dev" || meta.Version == "" {
		t.Errorf("Chart.yaml is %+v, want apiVersion v2, name nexios-dev and a version", meta)
	}
	for name, content := range files {
		raw, err := os.ReadFile(filepath.Join(chart, "templates", filepath.Base(name)))
		if err != nil {
			t.Fatalf("templates/ lacks %s: %v", filepath.Base(name), err)
		}
		if got := string(raw); got != escapeTemplate(content) {
			t.Errorf("templates/%s is %q, want %q", filepath.Base(name), got, escapeTemplate(content))
		}
	}
	twice := append(paths, paths[0])
	if err := writeChart(filepath.Join(t.TempDir(), "chart"), "nexios-dev", twice); err == nil || !strings.Contains(err.Error(), "two manifests are named") {
		t.Errorf("two files of one name: error %v, want one naming the clash", err)
	}
}
