package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// writeChart makes a Helm chart of a render: Chart.yaml and, in templates/, every manifest of files
// under its own file name (the render's names are unique). The manifests go in as they are, except that every
// "{{" becomes {{"{{"}}: Helm reads templates/ as Go templates, and Prometheus' alert rules and
// Grafana's dashboards hold "{{ $labels.instance }}"-style text of their own, which must come out
// unchanged. The chart needs no values and installs the objects into the namespaces the manifests name.
func writeChart(chartDir, name string, files []string) error {
	templates := filepath.Join(chartDir, "templates")
	if err := os.MkdirAll(templates, 0o755); err != nil {
		return fmt.Errorf("creating the chart's templates folder: %w", err)
	}
	chart := fmt.Sprintf("apiVersion: v2\nname: %s\ndescription: The manifests `deploy render` writes, as they are, for the bench's Helm row.\ntype: application\nversion: 0.1.0\n", name)
	if err := os.WriteFile(filepath.Join(chartDir, "Chart.yaml"), []byte(chart), 0o644); err != nil {
		return fmt.Errorf("writing Chart.yaml: %w", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		if seen[filepath.Base(f)] {
			return fmt.Errorf("two manifests are named %s; the chart's templates/ holds one of each name", filepath.Base(f))
		}
		seen[filepath.Base(f)] = true
		raw, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("reading %s for the chart: %w", f, err)
		}
		// 0o600: with --include-secrets the render holds Secrets' values.
		if err := os.WriteFile(filepath.Join(templates, filepath.Base(f)), []byte(escapeTemplate(string(raw))), 0o600); err != nil {
			return fmt.Errorf("writing %s into the chart: %w", filepath.Base(f), err)
		}
	}
	return nil
}

// escapeTemplate turns text into a Go template that renders to the text itself: only "{{" opens an
// action, and {{"{{"}} prints it; a lone "}}" outside an action is plain text already.
func escapeTemplate(text string) string {
	return strings.ReplaceAll(text, "{{", `{{"{{"}}`)
}
