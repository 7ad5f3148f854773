// Command deploy drives the nexios program through the Pulumi Automation API for pipelines and people:
// the same pulumi.RunFunc as main.go, against the same stack files.
//
//	deploy preview STACK [--diff] [--expect-no-changes] [--json] [--summary-file PATH] [--policy-report FILE]
//	deploy up STACK [--allow-destructive] [--confirm STACK] [--verify]
//	deploy refresh STACK [--expect-no-changes]
//	deploy destroy STACK [--confirm STACK]
//	deploy outputs STACK [--json] [--show-secrets]
//	deploy render STACK --out DIR [--include-secrets]
//	deploy recover STACK
//	deploy cancel STACK
//	deploy backup STACK --out FILE [--overwrite]
//	deploy restore STACK --from FILE [--confirm STACK]
//	deploy drift STACK [--json] [--summary-file PATH]
//	deploy rollback STACK [--to N] [--allow-destructive] [--confirm STACK]
//
// Exit codes: 0 success, 1 the operation failed, 2 invalid input (usage, configuration, missing tools
// or passphrase, a destructive plan up or rollback refuses, a rollback target that is not a successful
// update), 3 changes found under --expect-no-changes, 4 a preview's resources break an error-severity
// policy (internal/policy), 5 drift found, 6 a release failed up --verify and was rolled back.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/nexios-labs/nexios-k8s/internal/deploycli"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1
	exitInvalid  = 2
	exitChanges  = 3
	exitPolicy   = 4
	exitDrift    = 5
	exitVerify   = 6
	usageCommand = "usage: deploy <preview|up|refresh|destroy|outputs|render|recover|cancel|backup|restore|drift|rollback> STACK [flags]; deploy help for details"
)

// options are every flag of every command; each command reads its own.
type options struct {
	command, stack string

	diff, expectNoChanges, json, showSecrets, includeSecrets, overwrite bool
	allowDestructive, verify                                            bool
	summaryFile, confirm, out, from, secretsProvider, cluster           string
	policyReport                                                        string
	// to is rollback's --to: an update version, 0 for the default.
	to int
}

// errUsage marks input errors that print the usage line.
var errUsage = errors.New(usageCommand)

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	if len(args) < 2 || strings.HasPrefix(args[0], "-") || strings.HasPrefix(args[1], "-") {
		return o, errUsage
	}
	o.command, o.stack = args[0], args[1]
	allowed, ok := deploycli.Commands[o.command]
	if !ok {
		return o, fmt.Errorf("unknown command %q: %w", o.command, errUsage)
	}
	fs := flag.NewFlagSet("deploy "+o.command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.diff, "diff", false, "show the full property diff")
	fs.BoolVar(&o.expectNoChanges, "expect-no-changes", false, "exit 3 when anything would change (drift checks)")
	fs.BoolVar(&o.json, "json", false, "write machine-readable JSON to stdout")
	fs.StringVar(&o.summaryFile, "summary-file", "", "append a Markdown summary to this file (e.g. $GITHUB_STEP_SUMMARY)")
	fs.StringVar(&o.policyReport, "policy-report", "", "write the policy findings to this file as SARIF 2.1.0 (for code scanning)")
	fs.StringVar(&o.confirm, "confirm", "", "the stack's name again: required to destroy a prod stack, to let up or rollback take destructive steps on one, and to restore a prod stack or over a state that holds resources")
	fs.BoolVar(&o.allowDestructive, "allow-destructive", false, "let up or rollback take steps that lose data or replace the Kubernetes provider")
	fs.BoolVar(&o.verify, "verify", false, "up: after the update, watch the release for app.rollout.bakeSeconds (pods Ready, no restarts, 5xx ratio and p95 under the alert thresholds); roll back and exit 6 if it fails")
	fs.IntVar(&o.to, "to", 0, "rollback: the version of the successful update to roll back to (pulumi stack history); default the last one before the latest update")
	fs.BoolVar(&o.showSecrets, "show-secrets", false, "print secret outputs in plain text")
	fs.StringVar(&o.out, "out", "", "render: directory to render YAML into; backup: file to write the state to")
	fs.BoolVar(&o.overwrite, "overwrite", false, "backup: replace an existing --out file")
	fs.StringVar(&o.from, "from", "", "restore: the backup file to restore the state from")
	fs.BoolVar(&o.includeSecrets, "include-secrets", false, "keep secret values in rendered Secret manifests")
	fs.StringVar(&o.secretsProvider, "secrets-provider", "passphrase", "Pulumi secrets provider for new stacks (passphrase, awskms://..., hashivault://...)")
	fs.StringVar(&o.cluster, "cluster", "auto", "auto: the local cluster unless nexios:target or KUBECONFIG names one; local; kubeconfig")
	if err := fs.Parse(args[2:]); err != nil {
		return o, fmt.Errorf("%v: %w", err, errUsage)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), errUsage)
	}
	var misplaced, set []string
	fs.Visit(func(f *flag.Flag) {
		set = append(set, f.Name)
		if !slices.Contains(allowed, f.Name) && !slices.Contains(deploycli.CommonFlags, f.Name) {
			misplaced = append(misplaced, "--"+f.Name)
		}
	})
	if len(misplaced) > 0 {
		return o, fmt.Errorf("%s does not take %s: %w", o.command, strings.Join(misplaced, ", "), errUsage)
	}
	switch {
	case o.command == "render" && o.out == "":
		return o, fmt.Errorf("render needs --out DIR: %w", errUsage)
	case o.command == "backup" && o.out == "":
		return o, fmt.Errorf("backup needs --out FILE: %w", errUsage)
	case o.command == "restore" && o.from == "":
		return o, fmt.Errorf("restore needs --from FILE: %w", errUsage)
	case o.command == "rollback" && o.to < 0, o.command == "rollback" && o.to == 0 && slices.Contains(set, "to"):
		return o, fmt.Errorf("--to must be an update version (1 or more, as pulumi stack history lists them), got %d: %w", o.to, errUsage)
	case o.cluster != "auto" && o.cluster != "local" && o.cluster != "kubeconfig":
		return o, fmt.Errorf("--cluster must be auto, local or kubeconfig, got %q: %w", o.cluster, errUsage)
	}
	return o, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == superviseCommand {
		os.Exit(supervise(os.Args[2:]))
	}
	os.Exit(run(interruptible(), os.Args[1:], os.Stdout, os.Stderr))
}

// interruptible returns a context cancelled by the first SIGINT or SIGTERM: the running CLI gets one
// interrupt, Pulumi's graceful cancel, which lets the operations in flight finish and releases the
// lock. The signal's default action is then restored, so a second one ends deploy at once; its
// supervisor then kills the CLI and the plugins, and `deploy recover` repairs what they left.
func interruptible() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		fmt.Fprintf(os.Stderr, "\ndeploy: %v: cancelling; the operations in flight finish first (a second signal stops at once, then run `deploy recover`)\n", sig)
		cancel()
	}()
	return ctx
}

// run executes one command and returns the process's exit code; every failure is printed once, for people.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintln(stdout, helpText)
		return exitOK
	}
	opts, err := parseArgs(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "deploy:", err)
		return exitInvalid
	}
	d, err := newDeployer(ctx, opts, stdout, stderr)
	if err != nil {
		return report(stderr, opts, err)
	}
	return report(stderr, opts, d.runCommand(ctx))
}

const helpText = `deploy: the nexios program through the Pulumi Automation API.

  deploy preview STACK [--diff] [--expect-no-changes] [--json] [--summary-file PATH] [--policy-report FILE]
  deploy up STACK [--allow-destructive] [--confirm STACK] [--verify]
  deploy refresh STACK [--expect-no-changes]
  deploy destroy STACK [--confirm STACK]       (a prod stack needs --confirm with its name)
  deploy outputs STACK [--json] [--show-secrets]
  deploy render STACK --out DIR [--include-secrets]
  deploy recover STACK                         (after an interrupted or killed run: see below)
  deploy cancel STACK                          (removes the stack's lock without any check)
  deploy backup STACK --out FILE [--overwrite] (the state, secrets still encrypted; an existing FILE needs --overwrite)
  deploy restore STACK --from FILE [--confirm STACK]
                                               (a backup of the same stack; replacing a state that holds
                                               resources, or any prod stack's, needs --confirm with its name)
  deploy drift STACK [--json] [--summary-file PATH]
  deploy rollback STACK [--to N] [--allow-destructive] [--confirm STACK]

preview lists every step with its operation (create, update, replace, delete), the changed properties
with old and new values (a secret shows as changed, never its value), what forces a replace, and its
risk: safe; restarts-pods (a pod template changes); weakens-security (a namespace's Pod Security level
drops, a NetworkPolicy is removed); data-loss (a PersistentVolumeClaim, a StatefulSet with volume claim
templates such as Elasticsearch's or Prometheus' storage, or a Namespace replaced or deleted);
replaces-provider (the Kubernetes provider replaced, and everything under it). --json writes the same
per resource (resources[]), --summary-file as a Markdown table for a pull-request comment.

up previews after a refresh from the cluster, prints the plan with each step's risk, and refuses (exit
2, nothing in the cluster changed) a plan with a data-loss or replaces-provider step unless
--allow-destructive is given; a prod stack also needs --confirm with its name. It then updates, with a
refresh first, so drift is repaired; a plan with nothing to change and no drift ends there ("no update
run"), printing the outputs.

up --verify then watches the release for app.rollout.bakeSeconds: every pod Ready (45 s of grace), no
container restarts and, with the bundled Prometheus, the release's 5xx ratio and p95 latency at or
under monitoring.alerts.errorRatePercent and latencyP95Seconds (judged from 20 requests on). The first
failure ends the bake: the stack is rolled back as rollback does, and up exits 6.

drift previews a refresh, changing nothing: what changed in the cluster behind the program's back, per
resource and property, in preview's shape; exit 0 when nothing drifted, 5 when something did (the next
up puts it back).

rollback re-applies the configuration of an earlier successful update from the stack's own history
(pulumi stack history): update N with --to N, by default the last successful update before the latest
update (N as the Pulumi Cloud numbers runs; on a file backend, whose history shows 0, deploy numbers
them the same way: 1 the oldest run of any kind). It goes through up's gate (the plan after a refresh, with its risks, a destructive plan refused with
exit 2 unless --allow-destructive, prod also --confirm). The stack file is not touched: it still holds
the newer configuration, which the next up applies again unless you revert it (e.g. with git). A
rollback restores configuration, not code: the current program runs. Secrets in the old configuration
are never printed; a generated secret whose rotation value changes back is generated anew. A --to that
is not a successful update exits 2 naming the versions that are.

recover repairs what an interrupted run left: a state file a killed write left unreadable, the lock when
the run that holds it is dead (a file backend's lock names its process; a live run's lock is left
alone), the operations the run left pending (an interrupted create is adopted into the state by its
object's name, so nothing it created is orphaned), then it refreshes the state from the cluster. Until
then up and destroy refuse to run; after it, the next up completes the interrupted one.
A first Ctrl-C (SIGINT or SIGTERM) cancels gracefully; a second one stops at once. Either way, no
pulumi process or provider plugin outlives deploy.

Every preview checks the resources the program registers (their resolved inputs) against the
project's policies, in Go: container-resources, image-pinned, pod-security-restricted,
disruption-budget, default-deny-ingress, hpa-without-replicas, prod-persistent-storage (README,
"Policies"). Each finding prints on stderr with its severity, the resource and the fix; warnings
pass, an error fails the preview with exit 4. --policy-report FILE also writes them as SARIF 2.1.0.
A value the preview does not know yet is never a violation.

On a cluster several stacks share, preview and up refuse (exit 2, nothing changed) a namespace or the
custom metrics API that another stack's nexios.dev/stack label names, saying which stack key to change.

Every command also takes --secrets-provider (default passphrase) and --cluster auto|local|kubeconfig.

Environment:
  PULUMI_BACKEND_URL          state backend (default: file://<project>/.state)
  PULUMI_CONFIG_PASSPHRASE    passphrase of the passphrase secrets provider (or PULUMI_CONFIG_PASSPHRASE_FILE);
                              the dev stack on the local cluster defaults to an empty passphrase
  KUBECONFIG                  a cluster other than the local one
  NEXIOS_CLUSTER              the local cluster's name (default nexios; make passes CLUSTER)
  NEXIOS_REAL_NODE            auto (default), on or off: whether a new local cluster gets a real node
                              running the containers (needs root; auto falls back to simulated nodes)

Exit codes: 0 success, 1 the operation failed, 2 invalid input (or a destructive plan up or rollback
refuses, or a --to that is not a successful update), 3 changes found with --expect-no-changes, 4 a preview found an error-severity policy finding (checked
before --expect-no-changes: 4 wins over 3), 5 drift found by drift, 6 a release failed up --verify and
was rolled back.`
