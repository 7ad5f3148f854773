// Package workflowcheck keeps .github/workflows/deploy.yml honest: actionlint
// finds nothing in it (and does find mistakes, so a silent linter cannot pass
// this test), and the workflow still has the shape the project promises:
// its triggers, a prod deploy behind an approval after dev, one operation per
// stack at a time, and only commands and flags that cmd/deploy accepts.
package workflowcheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/internal/deploycli"
)

const (
	modulePath = "github.com/nexios-labs/nexios-k8s"
	// The workflow every assertion below is about, relative to the root.
	deployWorkflow = ".github/workflows/deploy.yml"
)

// stateWriters are the commands that write a stack's state, so two of them
// on one stack must never run at once.
var stateWriters = []string{"up", "refresh", "destroy", "cancel", "recover", "restore", "rollback"}

func TestActionlintFindsNothingInTheDeployWorkflow(t *testing.T) {
	root := repoRoot(t)
	for _, f := range runActionlint(t, root, root, deployWorkflow) {
		t.Errorf("%s", f)
	}
}

// Without this, a linter that checks nothing (a wrong binary, a broken
// flag) would pass the test above.
func TestActionlintFindsMistakes(t *testing.T) {
	root := repoRoot(t)
	tests := []struct {
		name     string
		job      string
		wantKind string
		wantText string
	}{
		{
			name:     "unknown runner label",
			job:      "runs-on: ubuntu-lates\n    steps:\n      - run: make unit\n",
			wantKind: "runner-label",
			wantText: `"ubuntu-lates" is unknown`,
		},
		{
			name:     "undefined matrix in runs-on expression",
			job:      "runs-on: ${{ matrix.os }}\n    steps:\n      - run: make unit\n",
			wantKind: "expression",
			wantText: `property "os" is not defined`,
		},
		{
			name:     "missing steps",
			job:      "runs-on: ubuntu-latest\n",
			wantKind: "syntax-check",
			wantText: `"steps" section is missing`,
		},
		{
			name:     "undefined needs",
			job:      "needs: deploy-dve\n    runs-on: ubuntu-latest\n    steps:\n      - run: make unit\n",
			wantKind: "job-needs",
			wantText: `needs job "deploy-dve" which does not exist`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(".github", "workflows", "broken.yml")
			body := "on: push\njobs:\n  broken:\n    " + tt.job
			if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(file)), 0o755); err != nil {
				t.Fatalf("writing the broken workflow: %v", err)
			}
			if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
				t.Fatalf("writing the broken workflow: %v", err)
			}
			findings := runActionlint(t, root, dir, file)
			for _, f := range findings {
				if f.Kind == tt.wantKind && strings.Contains(f.Message, tt.wantText) {
					return
				}
			}
			t.Errorf("actionlint did not report %s %q in\n%s\nfindings: %v", tt.wantKind, tt.wantText, body, findings)
		})
	}
}

func TestWorkflowTriggers(t *testing.T) {
	wf := loadWorkflow(t, repoRoot(t))
	for _, event := range []string{"pull_request", "push", "schedule"} {
		if _, ok := wf.On[event]; !ok {
			t.Errorf("%s: no %s trigger", deployWorkflow, event)
		}
	}
	if push, ok := wf.On["push"]; ok {
		var filter struct {
			Branches []string `yaml:"branches"`
		}
		if err := push.Decode(&filter); err != nil {
			t.Fatalf("%s: on.push: %v", deployWorkflow, err)
		}
		if !slices.Contains(filter.Branches, "main") {
			t.Errorf("%s: on.push.branches = %v, want main among them", deployWorkflow, filter.Branches)
		}
	}
}

// The approval lives in the production environment's protection rules, so a
// prod deploy outside that environment, or before dev, would skip it.
func TestProdDeploysAfterDevBehindApproval(t *testing.T) {
	wf := loadWorkflow(t, repoRoot(t))
	devJobs := wf.jobsRunning("up", "dev")
	prodJobs := wf.jobsRunning("up", "prod")
	if len(devJobs) != 1 || len(prodJobs) != 1 {
		t.Fatalf("%s: want one job running up dev and one running up prod, got %v and %v", deployWorkflow, devJobs, prodJobs)
	}
	prod := wf.Jobs[prodJobs[0]]
	if prod.Environment.Name != "production" {
		t.Errorf("%s: job %s deploys prod in environment %q, want production", deployWorkflow, prodJobs[0], prod.Environment.Name)
	}
	if !slices.Contains(prod.Needs, devJobs[0]) {
		t.Errorf("%s: job %s deploys prod with needs %v, want %s (the dev deploy) among them", deployWorkflow, prodJobs[0], prod.Needs, devJobs[0])
	}
}

// Every call is checked, not only deploys: a misspelled flag breaks a preview
// or the nightly drift check just as surely.
func TestDeployCommandsAndFlagsExist(t *testing.T) {
	wf := loadWorkflow(t, repoRoot(t))
	used := map[string]bool{}
	for _, name := range wf.jobNames() {
		for _, inv := range wf.Jobs[name].deployInvocations() {
			used[inv.command] = true
			// cmd/deploy's own table: a command or flag missing there fails in the pipeline only when
			// its job runs, possibly months later, so it fails here first.
			allowed, ok := deploycli.Commands[inv.command]
			if !ok {
				t.Errorf("job %s: %q: cmd/deploy has no command %q", name, inv.line, inv.command)
				continue
			}
			if inv.stack == "" || strings.HasPrefix(inv.stack, "-") {
				t.Errorf("job %s: %q: the stack must follow the command", name, inv.line)
			}
			for _, flag := range inv.flags {
				if name := strings.TrimPrefix(flag, "--"); !slices.Contains(allowed, name) && !slices.Contains(deploycli.CommonFlags, name) {
					t.Errorf("job %s: %q: %s takes no flag %s (it takes %v)", name, inv.line, inv.command, flag, allowed)
				}
			}
		}
	}
	// Guards against the invocation pattern no longer matching anything.
	for _, want := range []string{"preview", "up", "outputs", "drift"} {
		if !used[want] {
			t.Errorf("%s: no job runs cmd/deploy %s; found %v", deployWorkflow, want, used)
		}
	}
}

// Deploys are never cancelled half-way, and every job that writes a stack's
// state waits for the others on that stack.
func TestOneStateWriterPerStackAtATime(t *testing.T) {
	wf := loadWorkflow(t, repoRoot(t))
	for _, stack := range []string{"dev", "prod"} {
		groups := map[string][]string{}
		for _, command := range stateWriters {
			for _, name := range wf.jobsRunning(command, stack) {
				c := wf.Jobs[name].Concurrency
				if c.Group == "" {
					t.Errorf("job %s writes stack %s without a concurrency group", name, stack)
					continue
				}
				if c.CancelInProgress {
					t.Errorf("job %s writes stack %s with cancel-in-progress: true; a cancelled update leaves the stack locked", name, stack)
				}
				if !slices.Contains(groups[c.Group], name) {
					groups[c.Group] = append(groups[c.Group], name)
				}
			}
		}
		if len(groups) > 1 {
			t.Errorf("jobs writing stack %s are in different concurrency groups, so they can overlap: %v", stack, groups)
		}
	}
}

// finding is one actionlint error, as its JSON output has it.
type finding struct {
	Message  string `json:"message"`
	Filepath string `json:"filepath"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Kind     string `json:"kind"`
}

func (f finding) String() string {
	return fmt.Sprintf("%s:%d:%d: %s [%s]", f.Filepath, f.Line, f.Column, f.Message, f.Kind)
}

// runActionlint runs root's bin/actionlint on files in dir, which must be
// the root of the files' repository: actionlint resolves local actions
// (uses: ./...) from there. It uses shellcheck for run: scripts when
// shellcheck is on PATH, as make lint-workflows does.
func runActionlint(t *testing.T, root, dir string, files ...string) []finding {
	t.Helper()
	bin := filepath.Join(root, "bin", "actionlint")
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("%s is not built (%v); run `make lint-workflows`, which builds it from tools/lint", bin, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(bin, append([]string{"-no-color", "-format", "{{json .}}"}, files...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Exit 1 means findings; 2 and 3 mean actionlint itself failed.
	var exitErr *exec.ExitError
	if err := cmd.Run(); err != nil && !(errors.As(err, &exitErr) && exitErr.ExitCode() == 1) {
		t.Fatalf("%s %v in %s: %v\n%s", bin, files, dir, err, stderr.String())
	}
	var findings []finding
	if err := json.Unmarshal(stdout.Bytes(), &findings); err != nil {
		t.Fatalf("%s %v: reading its JSON output: %v\n%s", bin, files, err, stdout.String())
	}
	return findings
}

// repoRoot walks up from the test's directory to the go.mod that declares
// this module, so the test runs the same from any package directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("finding the repository root: %v", err)
	}
	for {
		if declaresModule(t, filepath.Join(dir, "go.mod")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod declaring module %s above the test's directory", modulePath)
		}
		dir = parent
	}
}

func declaresModule(t *testing.T, gomod string) bool {
	t.Helper()
	data, err := os.ReadFile(gomod)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatalf("reading %s: %v", gomod, err)
	}
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		if fields := strings.Fields(scanner.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}

// workflow is the part of a workflow file the tests look at.
type workflow struct {
	On   map[string]yaml.Node `yaml:"on"`
	Jobs map[string]job       `yaml:"jobs"`
}

type job struct {
	Needs       stringList  `yaml:"needs"`
	Environment environment `yaml:"environment"`
	Concurrency concurrency `yaml:"concurrency"`
	Steps       []struct {
		Run string `yaml:"run"`
	} `yaml:"steps"`
}

func loadWorkflow(t *testing.T, root string) workflow {
	t.Helper()
	path := filepath.Join(root, deployWorkflow)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the workflow: %v", err)
	}
	var wf workflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	if len(wf.Jobs) == 0 {
		t.Fatalf("%s has no jobs", path)
	}
	return wf
}

// jobNames returns the job IDs sorted, so failures come in a stable order.
func (wf workflow) jobNames() []string {
	names := make([]string, 0, len(wf.Jobs))
	for name := range wf.Jobs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// jobsRunning returns the jobs that run cmd/deploy COMMAND STACK.
func (wf workflow) jobsRunning(command, stack string) []string {
	var names []string
	for _, name := range wf.jobNames() {
		for _, inv := range wf.Jobs[name].deployInvocations() {
			if inv.command == command && inv.stack == stack {
				names = append(names, name)
				break
			}
		}
	}
	return names
}

// invocation is one call of cmd/deploy in a run: script.
type invocation struct {
	line    string
	command string
	stack   string
	flags   []string
}

var (
	goRunDeploy   = regexp.MustCompile(`go run \./cmd/deploy\b(.*)`)
	goBuildDeploy = regexp.MustCompile(`go build -o\s+(\S+)\s+\./cmd/deploy\b`)
)

// deployInvocations finds `go run ./cmd/deploy ...` and, where a step builds
// it with `go build -o BIN ./cmd/deploy` (to see its exit status, which go
// run turns into 1), calls of BIN in the job's later steps.
func (j job) deployInvocations() []invocation {
	var invs []invocation
	var built []string
	for _, step := range j.Steps {
		for line := range strings.Lines(step.Run) {
			line = strings.TrimSpace(line)
			if m := goBuildDeploy.FindStringSubmatch(line); m != nil {
				built = append(built, m[1])
				continue
			}
			if m := goRunDeploy.FindStringSubmatch(line); m != nil {
				invs = append(invs, parseInvocation(line, m[1]))
				continue
			}
			for _, bin := range built {
				if rest, ok := strings.CutPrefix(line, bin); ok {
					invs = append(invs, parseInvocation(line, rest))
				} else if _, rest, ok := strings.Cut(line, " "+bin+" "); ok {
					invs = append(invs, parseInvocation(line, " "+rest))
				}
			}
		}
	}
	return invs
}

// parseInvocation reads the arguments after the program, up to the end of
// the shell command (a redirection, pipe or list operator).
func parseInvocation(line, args string) invocation {
	if i := strings.IndexAny(args, "<>|;&"); i >= 0 {
		args = args[:i]
	}
	inv := invocation{line: line}
	fields := strings.Fields(args)
	for i, field := range fields {
		field = strings.Trim(field, `"'`)
		switch {
		case i == 0:
			inv.command = field
		case i == 1:
			inv.stack = field
		case strings.HasPrefix(field, "--"):
			flag, _, _ := strings.Cut(field, "=")
			inv.flags = append(inv.flags, flag)
		}
	}
	return inv
}

// stringList is a YAML value written either as one string or as a list.
type stringList []string

func (l *stringList) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		*l = stringList{node.Value}
		return nil
	}
	var list []string
	if err := node.Decode(&list); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*l = list
	return nil
}

// environment is a job's environment, written as its name or as {name, url}.
type environment struct {
	Name string `yaml:"name"`
}

func (e *environment) UnmarshalYAML(node *yaml.Node) error {
	type long environment // without this method, so Decode does not recurse
	if err := shortOrLong(node, &e.Name, (*long)(e)); err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	return nil
}

// concurrency is a job's concurrency, written as its group or in full.
type concurrency struct {
	Group            string `yaml:"group"`
	CancelInProgress bool   `yaml:"cancel-in-progress"`
}

func (c *concurrency) UnmarshalYAML(node *yaml.Node) error {
	type long concurrency // without this method, so Decode does not recurse
	if err := shortOrLong(node, &c.Group, (*long)(c)); err != nil {
		return fmt.Errorf("concurrency: %w", err)
	}
	return nil
}

// shortOrLong decodes a value GitHub accepts in two forms: a scalar, the
// short form, into short; a mapping, the long form, into long.
func shortOrLong(node *yaml.Node, short *string, long any) error {
	if node.Kind == yaml.ScalarNode {
		*short = node.Value
		return nil
	}
	return node.Decode(long)
}
