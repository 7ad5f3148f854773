package monitoring

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// runbookParts are the parts every runbook entry has, in this order.
var runbookParts = []string{"**What it means.**", "**Likely causes.**", "**How to check.**", "**How to fix.**"}

// runbookEntries reads docs/runbook.md: each second-level heading is an entry, by its anchor (a
// Markdown renderer's: lower case, spaces as hyphens, other punctuation dropped).
func runbookEntries(t *testing.T) (map[string]string, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", RunbookPath))
	if err != nil {
		t.Fatalf("reading the runbook: %v", err)
	}
	dropped := regexp.MustCompile(`[^a-z0-9 _-]`)
	headings, bodies := map[string]string{}, map[string]string{}
	var anchor string
	for line := range strings.Lines(string(raw)) {
		if title, ok := strings.CutPrefix(line, "## "); ok {
			title = strings.TrimSpace(title)
			anchor = strings.ReplaceAll(dropped.ReplaceAllString(strings.ToLower(title), ""), " ", "-")
			if _, dup := headings[anchor]; dup {
				t.Errorf("the runbook has two entries with anchor %q", anchor)
			}
			headings[anchor] = title
			continue
		}
		if anchor != "" {
			bodies[anchor] += line
		}
	}
	return headings, bodies
}

// Every alert the component ships has a runbook entry its runbook_url links to, every entry is an
// alert's, and every entry says what the alert means, why it fires, how to check and how to fix.
func TestRunbookCoversEveryAlert(t *testing.T) {
	headings, bodies := runbookEntries(t)
	groups, err := RuleGroups(testRuleSettings(t))
	if err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			link := r.Annotations["runbook_url"]
			path, anchor, _ := strings.Cut(link, "#")
			if path != RunbookPath || headings[anchor] != r.Alert {
				t.Errorf("%s (%s): runbook_url %q does not link to a runbook heading %q", r.Alert, r.Labels["severity"], link, r.Alert)
			}
		}
	}
	if len(alerts) == 0 {
		t.Fatal("no alert in the rule groups")
	}
	for anchor, title := range headings {
		if !alerts[title] {
			t.Errorf("runbook entry %q (#%s) is no alert the component ships", title, anchor)
		}
		body := bodies[anchor]
		at := -1
		for _, part := range runbookParts {
			i := strings.Index(body, part)
			if i < 0 || i < at {
				t.Errorf("runbook entry %s: %s missing or out of order (want %v)", title, part, runbookParts)
			}
			at = i
		}
		queries := promqlBlocks(body)
		if len(queries) == 0 || !strings.Contains(body, "```sh") {
			t.Errorf("runbook entry %s lacks a PromQL query or a shell command to check with", title)
		}
		for _, q := range queries {
			if _, err := parser.ParseExpr(q); err != nil {
				t.Errorf("runbook entry %s: PromQL %q does not parse: %v", title, q, err)
			}
		}
	}
	titles := slices.Collect(maps.Values(headings))
	for name := range alerts {
		if !slices.Contains(titles, name) {
			t.Errorf("alert %s has no runbook entry", name)
		}
	}
}

// promqlBlocks returns the content of every ```promql block in a Markdown text.
func promqlBlocks(markdown string) []string {
	var blocks []string
	for _, chunk := range strings.Split(markdown, "```promql\n")[1:] {
		query, _, _ := strings.Cut(chunk, "```")
		blocks = append(blocks, strings.TrimSpace(query))
	}
	return blocks
}
