package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/proctree"
	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

// recovery holds what the interruption scenarios of one stack share (TestLifecycle's interruption
// steps): the stack, and a mark every process deploy starts inherits, by which a survivor is found
// wherever it was re-parented.
type recovery struct {
	t     *testing.T
	p     *pipeline
	tc    toolchain.Toolchain
	api   apiClient
	stack string
	mark  string
}

// interruptAndRecover interrupts the command's `up` of the stack, from an empty state, once its first
// Service exists (so creates are in flight), with sig, and checks the documented recovery: no Pulumi
// process outlives deploy, `deploy recover` leaves no lock, no pending operation and nothing
// untracked, and the next up converges with nothing in the cluster that the state does not track. It
// returns a one-line summary.
func (r *recovery) interruptAndRecover(ctx context.Context, sig syscall.Signal) string {
	t := r.t
	up := exec.CommandContext(ctx, r.p.bin, "up", r.stack)
	up.Dir, up.Env = r.p.project, r.p.env
	var stdout, stderr bytes.Buffer
	up.Stdout, up.Stderr = &stdout, &stderr
	// What the interrupted run printed goes to the transcript the secrets scan reads.
	defer func() { r.p.transcript.WriteString(stdout.String() + stderr.String()) }()
	if err := up.Start(); err != nil {
		t.Fatalf("starting deploy up: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()

	first := r.waitForFirstService(ctx, exited)
	tree := processTree(t, up.Process.Pid)
	var names []string
	for _, proc := range tree {
		names = append(names, proc.name)
	}
	t.Logf("first Service %s exists; deploy's processes: %s", first, strings.Join(names, ", "))
	for _, want := range []string{"pulumi", "pulumi-resource-kubernetes"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s below deploy at the interruption: the check of survivors below would prove nothing", want)
		}
	}

	signalled := time.Now()
	if err := up.Process.Signal(sig); err != nil {
		t.Fatalf("signalling deploy: %v", err)
	}
	var code int
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		}
	case <-time.After(4 * time.Minute):
		t.Fatalf("deploy up still runs 4 minutes after %v", sig)
	}
	stopped := time.Since(signalled).Round(100 * time.Millisecond)
	t.Logf("deploy up ended %s after %v, exit %d", stopped, sig, code)
	if sig == syscall.SIGINT {
		if code != 1 || !strings.Contains(stderr.String(), "cancelling") {
			t.Errorf("SIGINT: exit %d, want 1 after a graceful cancel; stderr:\n%s", code, stderr.String())
		}
		var said []string
		for line := range strings.Lines(stdout.String() + stderr.String()) {
			if strings.Contains(strings.ToLower(line), "cancel") {
				said = append(said, strings.TrimSpace(line))
			}
		}
		t.Logf("what deploy and Pulumi said of the cancel:\n  %s", strings.Join(said, "\n  "))
	}

	// Nothing deploy started outlives it: neither the processes seen at the interruption (by pid and
	// start time) nor any later one carrying the run's mark.
	survivorsGone := r.requireNoSurvivors(tree)

	locks := r.lockFiles()
	before, err := r.tryExportState(ctx)
	unreadable := err != nil
	switch {
	case unreadable && sig == syscall.SIGKILL && strings.Contains(err.Error(), "failed to load checkpoint"):
		// The kill landed while the backend rewrote the state file's metadata sidecar, which
		// recover must repair.
		t.Logf("after %v: %d lock(s), and the state cannot be read: %v", sig, len(locks), err)
	case unreadable:
		t.Fatal(err)
	}
	untrackedBefore := r.untracked(before)
	unread := before.unread()
	if !unreadable {
		t.Logf("after %v: %d lock(s), %d pending operation(s), %d object(s) adopted by deploy and not read back, %d labelled object(s) the state does not track %v",
			sig, len(locks), len(before.Deployment.PendingOperations), unread, len(untrackedBefore), untrackedBefore)
	}
	if sig == syscall.SIGKILL && !unreadable && (len(locks) == 0 || len(before.Deployment.PendingOperations) == 0) {
		t.Errorf("SIGKILL left no lock or no pending operation: the recovery below would prove nothing")
	}
	if sig == syscall.SIGINT && len(locks) > 0 {
		t.Errorf("SIGINT: the graceful cancel left the lock %v", locks)
	}
	// Until recover has run, up refuses rather than orphan what the interrupted run made.
	if unreadable || len(before.Deployment.PendingOperations)+unread > 0 {
		if res := r.p.run(ctx, "up", r.stack); res.code != 1 || !strings.Contains(res.stderr, "`deploy recover "+r.stack+"`") {
			t.Errorf("up before recover: exit %d, want 1 naming recover; stderr:\n%s", res.code, res.stderr)
		}
	}

	if sig == syscall.SIGKILL && !unreadable {
		// A kill lands now and then while the file backend rewrites the state file's metadata
		// sidecar in place (seen in one run of seven): make every SIGKILL run leave it so, as that
		// kill does, for recover to repair.
		sidecar := filepath.Join(r.p.project, ".state", ".pulumi", "stacks", "nexios", r.stack+".json.attrs")
		if err := os.Truncate(sidecar, 0); err != nil {
			t.Fatalf("truncating the state's sidecar: %v", err)
		}
		if _, err := r.tryExportState(ctx); err == nil || !strings.Contains(err.Error(), "failed to load checkpoint: EOF") {
			t.Fatalf("a truncated sidecar did not make the state unreadable as a killed write does: %v", err)
		}
	}
	rec := r.p.mustRun(ctx, "recover", r.stack)
	if sig == syscall.SIGKILL && !strings.Contains(rec.stdout, "state: removed") {
		t.Errorf("recover did not say it repaired the state's sidecar:\n%s", rec.stdout)
	}
	var said []string
	for line := range strings.Lines(rec.stdout) {
		if strings.HasPrefix(line, "state:") || strings.HasPrefix(line, "lock:") || strings.HasPrefix(line, "adopted objects") || strings.HasPrefix(line, "pending operations:") || strings.HasPrefix(line, "  urn:") || strings.HasPrefix(line, "stack "+r.stack+" recovered") {
			said = append(said, strings.TrimSpace(line))
		}
	}
	t.Logf("deploy recover %s said:\n  %s", r.stack, strings.Join(said, "\n  "))
	if locks := r.lockFiles(); len(locks) > 0 {
		t.Errorf("locks remain after recover: %v", locks)
	}
	after := r.exportState(ctx)
	if n := len(after.Deployment.PendingOperations); n > 0 {
		t.Errorf("%d pending operation(s) remain after recover: %+v", n, after.Deployment.PendingOperations)
	}
	if n := after.unread(); n > 0 {
		t.Errorf("%d adopted object(s) not read back after recover", n)
	}
	// recover itself, not the up after it, brings what the interrupted creates made under the state.
	if untracked := r.untracked(after); len(untracked) > 0 {
		t.Errorf("objects with the program's labels that the state does not track after recover: %v", untracked)
	}

	// An object an interrupted create made is the program's own: the up after recover updates it at
	// most, never replaces it (a replaced claim loses its data, and up refuses that).
	converged := r.p.mustRun(ctx, "up", r.stack)
	for line := range strings.Lines(converged.stdout) {
		if fields := strings.Fields(line); len(fields) > 1 && fields[0] == "replace" {
			t.Errorf("the up after recover replaces what the interrupted up created: %s", strings.TrimSpace(line))
		}
	}
	if res := r.p.run(ctx, "preview", r.stack, "--expect-no-changes"); res.code != 0 {
		t.Errorf("preview --expect-no-changes after recover and up: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	final := r.exportState(ctx)
	untracked := r.untracked(final)
	if len(untracked) > 0 {
		t.Errorf("objects with the program's labels that the state does not track: %v", untracked)
	}
	if n := len(final.Deployment.PendingOperations); n > 0 {
		t.Errorf("%d pending operation(s) after up", n)
	}
	return fmt.Sprintf("%v: deploy stopped %s after the signal (exit %d), its %d processes gone %s later; left %d lock(s), %d pending op(s), "+
		"%d adopted object(s) not read back, %d untracked object(s); after recover: no lock, no pending op, none untracked; "+
		"up converged, preview --expect-no-changes passed, %d resources, none untracked",
		sig, stopped, code, len(tree), survivorsGone, len(locks), len(before.Deployment.PendingOperations), unread,
		len(untrackedBefore), len(final.Deployment.Resources))
}

// waitForFirstService polls the cluster until a Service with the program's labels exists: the
// provider has started creating, and the rollouts it awaits are not done, so creates are in flight
// (the SIGKILL case checks that the kill left pending creates).
func (r *recovery) waitForFirstService(ctx context.Context, exited <-chan error) string {
	t := r.t
	selector := url.QueryEscape(kube.LabelPartOf + "=nexios")
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case err := <-exited:
			t.Fatalf("deploy up ended (%v) before any Service existed: nothing to interrupt", err)
		default:
		}
		var list objectList
		if r.api.get(t, "/api/v1/services?labelSelector="+selector, &list) == http.StatusOK && len(list.Items) > 0 {
			m := list.Items[0].Metadata
			return m.Namespace + "/" + m.Name
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no Service with the program's labels appeared within 5 minutes of deploy up")
	return ""
}

// proc is one process of deploy's tree, by pid and start time, since pids are reused.
type proc struct {
	proctree.Process
	name string
}

func (p proc) String() string { return fmt.Sprintf("%s (pid %d)", p.name, p.PID) }

// running reports whether p still runs: the same process, not a zombie.
func (p proc) running() bool {
	now, err := proctree.Read(p.PID)
	return err == nil && now.Live() && now.StartTime == p.StartTime
}

// processTree lists root and every live process below it.
func processTree(t *testing.T, root int) []proc {
	t.Helper()
	self, err := proctree.Read(root)
	if err != nil {
		t.Fatalf("reading deploy's process: %v", err)
	}
	below, err := proctree.Descendants(root)
	if err != nil {
		t.Fatalf("reading deploy's processes: %v", err)
	}
	tree := []proc{{self, programName(root)}}
	for _, p := range below {
		tree = append(tree, proc{p, programName(p.PID)})
	}
	return tree
}

// programName is the base name of a process's executable as it was started (comm is cut at 15
// characters, which pulumi-resource-kubernetes exceeds).
func programName(pid int) string {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	argv0, _, _ := strings.Cut(string(raw), "\x00")
	return filepath.Base(argv0)
}

// requireNoSurvivors waits up to 15 seconds for every process of tree, and every Pulumi process or
// supervisor carrying the run's mark, to be gone, and returns how long that took.
func (r *recovery) requireNoSurvivors(tree []proc) time.Duration {
	t := r.t
	start := time.Now()
	deadline := start.Add(15 * time.Second)
	for {
		var alive []string
		for _, p := range tree {
			if p.running() {
				alive = append(alive, p.String())
			}
		}
		all, err := proctree.All()
		if err != nil {
			t.Fatalf("reading the process table: %v", err)
		}
		for _, p := range all {
			name := programName(p.PID)
			if !p.Live() || (!strings.HasPrefix(name, "pulumi") && name != filepath.Base(r.p.bin)) {
				continue
			}
			environ, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/environ")
			if err == nil && slices.Contains(strings.Split(string(environ), "\x00"), r.mark) {
				if s := (proc{p, name}).String(); !slices.Contains(alive, s) {
					alive = append(alive, s)
				}
			}
		}
		if len(alive) == 0 {
			return time.Since(start).Round(10 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Errorf("processes of the interrupted deploy still run 15s later: %s", strings.Join(alive, ", "))
			return time.Since(start).Round(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exportedState is what the test reads of `pulumi stack export`.
type exportedState struct {
	Deployment struct {
		Resources []struct {
			URN        string   `json:"urn"`
			Type       string   `json:"type"`
			ID         string   `json:"id"`
			Delete     bool     `json:"delete"`
			InitErrors []string `json:"initErrors"`
		} `json:"resources"`
		PendingOperations []struct {
			Type     string `json:"type"`
			Resource struct {
				URN string `json:"urn"`
			} `json:"resource"`
		} `json:"pending_operations"`
	} `json:"deployment"`
}

// unread counts the resources adopted by deploy (after a cancel) or recover that no refresh has read
// back from the cluster yet.
func (s exportedState) unread() int {
	n := 0
	for _, r := range s.Deployment.Resources {
		for _, e := range r.InitErrors {
			if strings.HasPrefix(e, "adopted by `deploy recover`") {
				n++
			}
		}
	}
	return n
}

// exportState exports the stack's state with the Pulumi CLI, as a person checking it would.
func (r *recovery) exportState(ctx context.Context) exportedState {
	r.t.Helper()
	state, err := r.tryExportState(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	return state
}

// tryExportState is exportState for a state that may not be readable.
func (r *recovery) tryExportState(ctx context.Context) (exportedState, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(r.tc.BinDir(), "pulumi"), "stack", "export", "--stack", r.stack)
	cmd.Dir = r.p.project
	cmd.Env = os.Environ()
	for k, v := range scratchEnv(r.tc, r.p) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return exportedState{}, fmt.Errorf("pulumi stack export: %w\n%s", err, stderr.String())
	}
	var state exportedState
	if err := json.Unmarshal(out, &state); err != nil {
		return exportedState{}, fmt.Errorf("parsing the exported state: %w", err)
	}
	return state, nil
}

// lockFiles lists the lock files in the scratch project's file backend.
func (r *recovery) lockFiles() []string {
	var locks []string
	_ = filepath.WalkDir(filepath.Join(r.p.project, ".state", ".pulumi", "locks"), func(path string, e fs.DirEntry, err error) error {
		// The blob library's .attrs sidecars go with their lock.
		if err == nil && !e.IsDir() && strings.HasSuffix(path, ".json") {
			locks = append(locks, path)
		}
		return nil
	})
	return locks
}

// objectList is what the test reads of a Kubernetes list.
type objectList struct {
	Items []struct {
		Metadata struct {
			Name            string `json:"name"`
			Namespace       string `json:"namespace"`
			OwnerReferences []any  `json:"ownerReferences"`
		} `json:"metadata"`
	} `json:"items"`
}

// untracked lists the objects in the cluster with the program's labels that no resource of state
// is: every listable kind of every API group, by kind and namespace/name. Objects a controller
// made (with an owner: pods, ReplicaSets, EndpointSlices), Endpoints, which the endpoints
// controller copies from each Service with its labels but no owner, and the volume claims a
// StatefulSet's controller makes from its claim templates, with their labels and no owner
// (Elasticsearch's in prod), are the cluster's own.
func (r *recovery) untracked(state exportedState) []string {
	t := r.t
	fromTemplates := r.claimsFromTemplates()
	tracked := map[string]bool{}
	for _, res := range state.Deployment.Resources {
		if pkg, rest, ok := strings.Cut(res.Type, ":"); ok && pkg == "kubernetes" && !res.Delete {
			kind := rest[strings.LastIndex(rest, ":")+1:]
			tracked[kind+" "+res.ID] = true
		}
	}
	var groupVersions []string
	var core struct {
		Versions []string `json:"versions"`
	}
	if r.api.get(t, "/api", &core) != http.StatusOK {
		t.Fatal("GET /api failed")
	}
	for _, v := range core.Versions {
		groupVersions = append(groupVersions, "/api/"+v)
	}
	var groups struct {
		Groups []struct {
			PreferredVersion struct {
				GroupVersion string `json:"groupVersion"`
			} `json:"preferredVersion"`
		} `json:"groups"`
	}
	if r.api.get(t, "/apis", &groups) != http.StatusOK {
		t.Fatal("GET /apis failed")
	}
	for _, g := range groups.Groups {
		groupVersions = append(groupVersions, "/apis/"+g.PreferredVersion.GroupVersion)
	}

	found := map[string]bool{}
	for _, gv := range groupVersions {
		var resources struct {
			Resources []struct {
				Name  string   `json:"name"`
				Kind  string   `json:"kind"`
				Verbs []string `json:"verbs"`
			} `json:"resources"`
		}
		if r.api.get(t, gv, &resources) != http.StatusOK {
			continue // an aggregated API that is not serving lists nothing the program made
		}
		for _, res := range resources.Resources {
			if strings.Contains(res.Name, "/") || !slices.Contains(res.Verbs, "list") || res.Kind == "Endpoints" || res.Kind == "Event" {
				continue
			}
			for _, selector := range []string{kube.LabelPartOf + "=nexios", kube.LabelManagedBy + "=pulumi"} {
				var list objectList
				if r.api.get(t, gv+"/"+res.Name+"?labelSelector="+url.QueryEscape(selector), &list) != http.StatusOK {
					continue
				}
				for _, item := range list.Items {
					m := item.Metadata
					id := m.Name
					if m.Namespace != "" {
						id = m.Namespace + "/" + m.Name
					}
					if len(m.OwnerReferences) > 0 || (res.Kind == "PersistentVolumeClaim" && fromTemplates.MatchString(id)) {
						continue
					}
					if key := res.Kind + " " + id; !tracked[key] {
						found[key] = true
					}
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(found))
}

// claimsFromTemplates matches, as namespace/name, the volume claims the StatefulSets of the cluster
// have made from their claim templates: <template>-<StatefulSet>-<ordinal>.
func (r *recovery) claimsFromTemplates() *regexp.Regexp {
	var list struct {
		Items []struct {
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Spec struct {
				VolumeClaimTemplates []struct {
					Metadata struct {
						Name string `json:"name"`
					} `json:"metadata"`
				} `json:"volumeClaimTemplates"`
			} `json:"spec"`
		} `json:"items"`
	}
	if code := r.api.get(r.t, "/apis/apps/v1/statefulsets", &list); code != http.StatusOK {
		r.t.Fatalf("GET StatefulSets: HTTP %d", code)
	}
	// A name nothing matches, for a cluster without claim templates.
	alternatives := []string{`\x00`}
	for _, s := range list.Items {
		for _, tmpl := range s.Spec.VolumeClaimTemplates {
			alternatives = append(alternatives, regexp.QuoteMeta(s.Metadata.Namespace+"/"+tmpl.Metadata.Name+"-"+s.Metadata.Name+"-")+`\d+`)
		}
	}
	return regexp.MustCompile(`^(?:` + strings.Join(alternatives, "|") + `)$`)
}
