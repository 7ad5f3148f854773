package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The deployment guide, docs/deployment.md, is true by this test: TestDeploymentGuide runs every
// command of its ```sh blocks, in document order, in a scratch copy of the project (newScratchProject)
// against a kwok cluster of the test's own, and fails when one exits other than as written.
//
// The guide's conventions, which parseGuide enforces:
//   - ```sh blocks are run, ```text, ```yaml and ```go blocks are not; any other fence (```bash,
//     ```shell, ```console, a bare ```) fails the test, so a command cannot slip out of the run by
//     its block's tag.
//   - One command a line; a line ending in `\` continues on the next; blank and comment-only lines
//     are skipped. A trailing comment that starts with `exit N` expects exit status N, any other line
//     0.
//   - Only these commands are recognised, anything else fails the test before the cluster starts:
//     `export NAME=VALUE` (evaluated by bash in the project, so $PWD is the scratch project, and
//     passed to every later command), `go build -o deploy ./cmd/deploy` (built from this checkout into
//     the scratch project: the copy has no sources), `./deploy ...`, and `pulumi ...` and `kubectl ...`,
//     which must resolve to the project's bin/ through the PATH the guide exports. Each runs as
//     `bash -c LINE` in the scratch project.
//
// The environment is the test's, without KUBECONFIG, PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE and
// NEXIOS_CLUSTER (newScratchProject), plus the test's own cluster name, NEXIOS_REAL_NODE=off (onOwnCluster)
// and PULUMI_SKIP_UPDATE_CHECK=true (this machine has no internet); the guide sets the rest.

// guidePath is the guide, from the project root.
const guidePath = "docs/deployment.md"

// guideCluster is the guide test's own local cluster.
const guideCluster = "nexios-e2e-guide"

// guideCommand is one command of the guide's ```sh blocks.
type guideCommand struct {
	line     int    // where it starts in the document, 1-based
	text     string // the command as bash runs it, comment included
	program  string // its first word
	wantExit int
}

// Commands the guide may run, by first word; `go` only as goBuildDeploy.
var guidePrograms = []string{"export", "go", "./deploy", "pulumi", "kubectl"}

const goBuildDeploy = "go build -o deploy ./cmd/deploy"

var (
	exportLine   = regexp.MustCompile(`^export ([A-Za-z_][A-Za-z0-9_]*)=`)
	exitComment  = regexp.MustCompile(`^exit (\d+)\b`)
	fenceLine    = regexp.MustCompile("^ {0,3}(```+)\\s*(\\S*)")
	fenceNotRun  = []string{"text", "yaml", "go"}
	testNameRefs = regexp.MustCompile("`(Test[A-Z][A-Za-z0-9]*)`")
)

// parseGuide returns the commands of the document's ```sh blocks in order, or every problem found:
// a fence the conventions do not allow, an unclosed block, a command the harness does not recognise.
func parseGuide(doc string) ([]guideCommand, error) {
	var (
		commands []guideCommand
		problems []error
		fence    string // the open fence's backticks, "" outside a block
		run      bool   // whether the open block is run
		pending  string // a command continued with `\`
		start    int
	)
	for i, line := range strings.Split(doc, "\n") {
		n := i + 1
		if m := fenceLine.FindStringSubmatch(line); m != nil && (fence == "" || (m[1] == fence && m[2] == "")) {
			if fence != "" {
				if pending != "" {
					problems = append(problems, fmt.Errorf("line %d: the block ends inside a command continued with \\", start))
					pending = ""
				}
				fence = ""
				continue
			}
			fence = m[1]
			switch {
			case m[2] == "sh":
				run = true
			case slices.Contains(fenceNotRun, m[2]):
				run = false
			default:
				problems = append(problems, fmt.Errorf("line %d: a ```%s block: use ```sh for commands the test runs, ```text for ones it cannot (saying which test covers them)", n, m[2]))
				run = false
			}
			continue
		}
		if fence == "" || !run {
			continue
		}
		if pending == "" {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending += cont + " "
			continue
		}
		text := strings.TrimSpace(pending + line)
		pending = ""
		command, comment := splitComment(text)
		if command == "" {
			continue
		}
		c := guideCommand{line: start, text: text, program: strings.Fields(command)[0]}
		if m := exitComment.FindStringSubmatch(comment); m != nil {
			c.wantExit, _ = strconv.Atoi(m[1])
		}
		switch {
		case !slices.Contains(guidePrograms, c.program):
			problems = append(problems, fmt.Errorf("line %d: %q: the test does not know how to run %s (it runs %s); put a command it cannot run in a ```text block", start, command, c.program, strings.Join(guidePrograms, ", ")))
			continue
		case c.program == "go" && command != goBuildDeploy:
			problems = append(problems, fmt.Errorf("line %d: %q: the only go command the test runs is %q", start, command, goBuildDeploy))
			continue
		case c.program == "export" && !exportLine.MatchString(command):
			problems = append(problems, fmt.Errorf("line %d: %q: write one export NAME=VALUE a line", start, command))
			continue
		}
		commands = append(commands, c)
	}
	if fence != "" {
		problems = append(problems, errors.New("the document ends inside a fenced block"))
	}
	return commands, errors.Join(problems...)
}

// splitComment cuts a shell line at its comment: a # outside quotes at the start or after a blank.
func splitComment(line string) (command, comment string) {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
		}
	}
	return strings.TrimSpace(line), ""
}

func TestParseGuide(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    []guideCommand
		wantErr []string
	}{
		{
			name: "sh lines in order, exit comments, quotes, continuations",
			doc: "intro\n```sh\n./deploy up dev\n\n# a comment line\n./deploy drift dev   # exit 5: drifted\n" +
				"pulumi config set --secret databaseUrl 'a#b' -s dev  # sets it\n./deploy preview dev \\\n  --diff\n```\n" +
				"```text\nmake up   # not run\n```\n```sh\nexport PATH=\"$PWD/bin:$PATH\"\n" + goBuildDeploy + "\n```\n",
			want: []guideCommand{
				{line: 3, text: "./deploy up dev", program: "./deploy"},
				{line: 6, text: "./deploy drift dev   # exit 5: drifted", program: "./deploy", wantExit: 5},
				{line: 7, text: "pulumi config set --secret databaseUrl 'a#b' -s dev  # sets it", program: "pulumi"},
				{line: 8, text: "./deploy preview dev    --diff", program: "./deploy"},
				{line: 15, text: `export PATH="$PWD/bin:$PATH"`, program: "export"},
				{line: 16, text: goBuildDeploy, program: "go"},
			},
		},
		{
			name:    "a command the harness does not know",
			doc:     "```sh\nmake up\ncurl -s http://x\n```\n",
			wantErr: []string{`line 2: "make up": the test does not know how to run make`, `line 3: "curl -s http://x"`},
		},
		{
			name:    "a go command other than the build",
			doc:     "```sh\ngo run ./cmd/deploy up dev\n```\n",
			wantErr: []string{`the only go command the test runs is "go build -o deploy ./cmd/deploy"`},
		},
		{
			name:    "an export without a value",
			doc:     "```sh\nexport PATH\n```\n",
			wantErr: []string{"write one export NAME=VALUE a line"},
		},
		{
			name:    "a shell block under another tag",
			doc:     "```bash\n./deploy up dev\n```\n```\n./deploy up dev\n```\n",
			wantErr: []string{"line 1: a ```bash block", "line 4: a ``` block"},
		},
		{
			name:    "an unclosed block, a dangling continuation",
			doc:     "```sh\n./deploy up \\\n```\n```sh\n./deploy up dev\n",
			wantErr: []string{"line 2: the block ends inside a command continued", "ends inside a fenced block"},
		},
		{
			name: "a fence of four backticks holds one of three",
			doc:  "````text\n```sh\n./deploy up dev\n```\n````\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGuide(tt.doc)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("commands:\n got %+v\nwant %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestDeploymentGuideIsWellFormed checks the committed guide without a cluster: its blocks follow the
// conventions, it has commands to run, and every test it says covers something exists.
func TestDeploymentGuideIsWellFormed(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	doc := readGuide(t, root)
	commands, err := parseGuide(doc)
	if err != nil {
		t.Fatalf("%s: %v", guidePath, err)
	}
	if len(commands) == 0 {
		t.Fatalf("%s has no command to run", guidePath)
	}
	var sources strings.Builder
	for _, dir := range []string{"e2e", "cmd/deploy", "internal/workflowcheck", "program", "components/monitoring"} {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*_test.go"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sources.Write(raw)
		}
	}
	for _, m := range testNameRefs.FindAllStringSubmatch(doc, -1) {
		if !strings.Contains(sources.String(), "func "+m[1]+"(") {
			t.Errorf("%s names %s, which no test file defines", guidePath, m[1])
		}
	}
	for _, link := range regexp.MustCompile(`\]\(([^)#:]+)\)`).FindAllStringSubmatch(doc, -1) {
		if _, err := os.Stat(filepath.Join(root, filepath.Dir(guidePath), link[1])); err != nil {
			t.Errorf("%s links %s: %v", guidePath, link[1], err)
		}
	}
}

func readGuide(t *testing.T, root string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, guidePath))
	if err != nil {
		t.Fatalf("reading the guide: %v", err)
	}
	return string(raw)
}

// TestDeploymentGuide runs the guide's commands, as described at the top of this file.
func TestDeploymentGuide(t *testing.T) {
	// The guide builds the command itself: a scratch project without one.
	ctx, tc := engineTest(t)
	p := newScratchProject(t, tc)
	commands, err := parseGuide(readGuide(t, tc.Root))
	if err != nil {
		t.Fatalf("%s: %v", guidePath, err)
	}
	if len(commands) == 0 {
		t.Fatalf("%s has no command to run", guidePath)
	}
	p.onOwnCluster(ctx, guideCluster, "PULUMI_SKIP_UPDATE_CHECK=true", "PWD="+p.project)
	env := map[string]string{}
	for _, kv := range p.env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v // the last value of a name wins, as in exec
	}

	start, ran := time.Now(), 0
	for _, c := range commands {
		began := time.Now()
		code, stdout, stderr := runGuideCommand(ctx, t, tc.Root, p.project, env, c)
		t.Logf("%s:%d: %s: exit %d in %s", guidePath, c.line, c.text, code, time.Since(began).Round(time.Millisecond))
		if code != c.wantExit {
			t.Fatalf("%s:%d: %s: exit %d, the guide says %d\nstdout:\n%s\nstderr:\n%s", guidePath, c.line, c.text, code, c.wantExit, tail(stdout), tail(stderr))
		}
		ran++
	}
	if ran != len(commands) {
		t.Fatalf("ran %d of the guide's %d commands", ran, len(commands))
	}
	t.Logf("the guide's %d commands ran as documented in %s", ran, time.Since(start).Round(time.Second))
}

// runGuideCommand runs one command of the guide, updating env for an export, and returns its exit
// status and output.
func runGuideCommand(ctx context.Context, t *testing.T, root, project string, env map[string]string, c guideCommand) (int, string, string) {
	t.Helper()
	var cmd *exec.Cmd
	switch c.program {
	case "export":
		name := exportLine.FindStringSubmatch(c.text)[1]
		cmd = exec.CommandContext(ctx, "bash", "-c", c.text+"\nprintf %s \"$"+name+"\"")
	case "go":
		// The scratch project has no sources: build this checkout's command into it.
		cmd = exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(project, "deploy"), "./cmd/deploy")
	case "pulumi", "kubectl":
		if got, want := lookPath(c.program, env["PATH"]), filepath.Join(project, "bin", c.program); got != want {
			t.Fatalf("%s:%d: %s resolves to %q through the guide's PATH, want the project's %s", guidePath, c.line, c.program, got, want)
		}
		fallthrough
	default:
		cmd = exec.CommandContext(ctx, "bash", "-c", c.text)
	}
	cmd.Dir = project
	if c.program == "go" {
		cmd.Dir = root
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s:%d: %s: %v", guidePath, c.line, c.text, err)
	}
	if c.program == "export" && code == 0 {
		env[exportLine.FindStringSubmatch(c.text)[1]] = stdout.String()
	}
	return code, stdout.String(), stderr.String()
}

// lookPath finds program in the directories of path, as the shell would.
func lookPath(program, path string) string {
	for _, dir := range filepath.SplitList(path) {
		candidate := filepath.Join(dir, program)
		if info, err := os.Stat(candidate); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return candidate
		}
	}
	return ""
}

// tail keeps the last 60 lines of a command's output for a failure message.
func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 60 {
		lines = append([]string{"[...]"}, lines[len(lines)-60:]...)
	}
	return strings.Join(lines, "\n")
}
