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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/internal/localcluster"
	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

// recoverCluster is the interruption test's own local cluster.
const recoverCluster = "nexios-e2e-recover"

// TestRecoverAfterInterruptedUp interrupts the pipeline command's `up` of the dev stack once its first
// Service exists (so creates are in flight), with SIGKILL and then with SIGINT, and checks the
// documented recovery: no Pulumi process outlives deploy, `deploy recover` leaves no lock and no
// pending operation, and the next up converges with nothing in the cluster that the state does not
// track.
func TestRecoverAfterInterruptedUp(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: starts a cluster and runs the Pulumi engine; skipped under -short")
	}
	tc := requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeLeft(t))
	defer cancel()
	p := newPipeline(ctx, t, tc)
	// Its own cluster, without a real node (one machine runs one, and TestRealNode needs it), and a
	// mark every process deploy starts inherits, by which a survivor is found wherever it was
	// re-parented.
	mark := fmt.Sprintf("NEXIOS_E2E_RECOVER_RUN=%d-%d", os.Getpid(), time.Now().UnixNano())
	p.env = append(p.env, "NEXIOS_CLUSTER="+recoverCluster, "NEXIOS_REAL_NODE=off", mark)

	// The command would start the cluster itself; starting it first keeps its start-up out of the
	// interrupted runs. Its state lives in the scratch project, where the command looks for it.
	cluster := localcluster.Cluster{Toolchain: toolchain.Toolchain{Root: p.project}, Name: recoverCluster, Log: testLog{t}}
	if err := cluster.Stop(ctx); err != nil {
		t.Fatalf("removing a leftover cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(context.WithoutCancel(ctx)); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	if err := cluster.Start(ctx); err != nil {
		t.Fatalf("starting cluster %s: %v", recoverCluster, err)
	}
	kubeconfig, err := cluster.Kubeconfig(ctx)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	r := &recovery{t: t, p: p, tc: tc, api: newAPIClient(t, kubeconfig), mark: mark}

	var summary []string
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		ok := t.Run(sig.String(), func(t *testing.T) {
			r.t, p.t = t, t
			summary = append(summary, r.interruptAndRecover(ctx, sig))
		})
		r.t, p.t = t, t
		if !ok {
			break
		}
		if sig == syscall.SIGKILL {
			// The next interruption needs an up from nothing again.
			p.mustRun(ctx, "destroy", "dev")
		}
	}
	t.Logf("summary:\n  %s", strings.Join(summary, "\n  "))
}

// recovery holds what the interruption scenarios share.
type recovery struct {
	t    *testing.T
	p    *pipeline
	tc   toolchain.Toolchain
	api  apiClient
	mark string
}

// interruptAndRecover runs one scenario and returns its one-line summary.
func (r *recovery) interruptAndRecover(ctx context.Context, sig syscall.Signal) string {
	t := r.t
	up := exec.CommandContext(ctx, r.p.bin, "up", "dev")
	up.Dir, up.Env = r.p.project, r.p.env
	var stdout, stderr bytes.Buffer
	up.Stdout, up.Stderr = &stdout, &stderr
	if err := up.Start(); err != nil {
		t.Fatalf("starting deploy up: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()

	first := r.waitForFirstService(ctx, exited)
	tree := processTree(up.Process.Pid)
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
	}

	// Nothing deploy started outlives it: neither the processes seen at the interruption (by pid and
	// start time) nor any later one carrying the run's mark.
	r.requireNoSurvivors(tree)

	before := r.exportState(ctx)
	locks := r.lockFiles()
	untrackedBefore := r.untracked(before)
	t.Logf("after %v: %d lock(s), %d pending operation(s), %d labelled object(s) the state does not track %v",
		sig, len(locks), len(before.Deployment.PendingOperations), len(untrackedBefore), untrackedBefore)
	if sig == syscall.SIGKILL && (len(locks) == 0 || len(before.Deployment.PendingOperations) == 0) {
		t.Errorf("SIGKILL left no lock or no pending operation: the recovery below would prove nothing")
	}
	if sig == syscall.SIGINT && len(locks) > 0 {
		t.Errorf("SIGINT: the graceful cancel left the lock %v", locks)
	}

	rec := r.p.mustRun(ctx, "recover", "dev")
	var said []string
	for line := range strings.Lines(rec.stdout) {
		if strings.HasPrefix(line, "lock:") || strings.HasPrefix(line, "pending operations:") || strings.HasPrefix(line, "  urn:") || strings.HasPrefix(line, "stack dev recovered") {
			said = append(said, strings.TrimSpace(line))
		}
	}
	t.Logf("deploy recover dev said:\n  %s", strings.Join(said, "\n  "))
	if locks := r.lockFiles(); len(locks) > 0 {
		t.Errorf("locks remain after recover: %v", locks)
	}
	after := r.exportState(ctx)
	if n := len(after.Deployment.PendingOperations); n > 0 {
		t.Errorf("%d pending operation(s) remain after recover: %+v", n, after.Deployment.PendingOperations)
	}

	r.p.mustRun(ctx, "up", "dev")
	if res := r.p.run(ctx, "preview", "dev", "--expect-no-changes"); res.code != 0 {
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
	return fmt.Sprintf("%v: stopped %s after the signal (exit %d), no survivor; left %d lock(s), %d pending op(s), %d untracked object(s); "+
		"after recover: no lock, no pending op; up converged, preview --expect-no-changes passed, %d resources, none untracked",
		sig, stopped, code, len(locks), len(before.Deployment.PendingOperations), len(untrackedBefore), len(final.Deployment.Resources))
}

// waitForFirstService polls the cluster until a Service with the program's labels exists: the
// provider has started creating, and Services wait for their endpoints, so creates are in flight.
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

// proc is one process of deploy's tree, identified by pid and start time, since pids are reused.
type proc struct {
	pid       int
	startTime string
	name      string
}

// processTree lists root and every process below it, from /proc.
func processTree(root int) []proc {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := statFields(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []proc
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if _, start, ok := statFields(pid); ok {
			out = append(out, proc{pid: pid, startTime: start, name: programName(pid)})
		}
		queue = append(queue, children[pid]...)
	}
	return out
}

// statFields reads a live (not zombie) process's parent and start time from /proc/PID/stat.
func statFields(pid int) (ppid int, startTime string, ok bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", false
	}
	s := string(raw)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, "", false
	}
	// After the command name: state, ppid, ... starttime is the 20th field from there.
	fields := strings.Fields(s[end+1:])
	if len(fields) < 20 || fields[0] == "Z" {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(fields[1])
	return ppid, fields[19], err == nil
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
// supervisor carrying the run's mark, to be gone.
func (r *recovery) requireNoSurvivors(tree []proc) {
	t := r.t
	deadline := time.Now().Add(15 * time.Second)
	for {
		var alive []string
		for _, p := range tree {
			if _, start, ok := statFields(p.pid); ok && start == p.startTime {
				alive = append(alive, fmt.Sprintf("%s (pid %d)", p.name, p.pid))
			}
		}
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			name := programName(pid)
			if !strings.HasPrefix(name, "pulumi") && name != filepath.Base(r.p.bin) {
				continue
			}
			environ, err := os.ReadFile("/proc/" + e.Name() + "/environ")
			if _, _, live := statFields(pid); err == nil && live && slices.Contains(strings.Split(string(environ), "\x00"), r.mark) {
				if s := fmt.Sprintf("%s (pid %d)", name, pid); !slices.Contains(alive, s) {
					alive = append(alive, s)
				}
			}
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes of the interrupted deploy still run 15s later: %s", strings.Join(alive, ", "))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exportedState is what the test reads of `pulumi stack export`.
type exportedState struct {
	Deployment struct {
		Resources []struct {
			URN    string `json:"urn"`
			Type   string `json:"type"`
			ID     string `json:"id"`
			Delete bool   `json:"delete"`
		} `json:"resources"`
		PendingOperations []struct {
			Type     string `json:"type"`
			Resource struct {
				URN string `json:"urn"`
			} `json:"resource"`
		} `json:"pending_operations"`
	} `json:"deployment"`
}

// exportState exports the dev stack's state with the Pulumi CLI, as a person checking it would.
func (r *recovery) exportState(ctx context.Context) exportedState {
	t := r.t
	cmd := exec.CommandContext(ctx, filepath.Join(r.tc.BinDir(), "pulumi"), "stack", "export", "--stack", "dev")
	cmd.Dir = r.p.project
	cmd.Env = os.Environ()
	for k, v := range scratchEnv(r.tc, r.p) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pulumi stack export: %v\n%s", err, stderr.String())
	}
	var state exportedState
	if err := json.Unmarshal(out, &state); err != nil {
		t.Fatalf("parsing the exported state: %v", err)
	}
	return state
}

// lockFiles lists the lock files in the scratch project's file backend.
func (r *recovery) lockFiles() []string {
	var locks []string
	_ = filepath.WalkDir(filepath.Join(r.p.project, ".state", ".pulumi", "locks"), func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
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
// made (with an owner: pods, ReplicaSets, EndpointSlices) and Endpoints, which the endpoints
// controller copies from each Service with its labels but no owner, are the cluster's own.
func (r *recovery) untracked(state exportedState) []string {
	t := r.t
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
					if len(m.OwnerReferences) > 0 {
						continue
					}
					id := m.Name
					if m.Namespace != "" {
						id = m.Namespace + "/" + m.Name
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
