package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/internal/staterepair"
)

// recover repairs what an interrupted run left behind (a killed deploy, a CI job that timed out, a
// machine that rebooted mid-update), so that the next up converges and nothing in the cluster escapes
// the state:
//
//  0. before the stack is opened (newDeployer), its state files, which a run killed mid-write can
//     leave unreadable (see repairStateSidecars);
//  1. the stack's lock, removed only when the run holding it is dead (see clearDeadLocks);
//  2. the operations the run left pending in the state: an interrupted create may or may not have
//     reached the cluster, and the engine will neither track nor delete what it did create. Each
//     pending create of a Kubernetes object is adopted into the state under its object's ID, the rest
//     are dropped (see staterepair.ResolvePending);
//  3. a refresh, which reads every resource back: an adopted object the create never made leaves the
//     state (the next up creates it), one it made is tracked with its live state.
//
// Everything that can fail before the state is edited (the cluster, a live lock) is checked first, so
// the edit is never left without the refresh that completes it.
func (d *deployer) recover(ctx context.Context) error {
	if err := d.ensureLocalCluster(ctx); err != nil {
		return err
	}
	if err := d.clearDeadLocks(); err != nil {
		return err
	}
	state, err := d.stack.Export(ctx)
	if err != nil {
		return fmt.Errorf("exporting the state of stack %q: %w", d.opts.stack, err)
	}
	if _, unread, err := staterepair.Leftovers(state.Deployment); err == nil && unread > 0 {
		fmt.Fprintf(d.stdout, "adopted objects not yet read back from the cluster (a cancelled up's): %d\n", unread)
	}
	edited, resolutions, err := staterepair.ResolvePending(state.Deployment)
	if err != nil {
		return fmt.Errorf("stack %q: %w", d.opts.stack, err)
	}
	if len(resolutions) == 0 {
		fmt.Fprintf(d.stdout, "pending operations: none\n")
	} else {
		state.Deployment = edited
		if err := d.stack.Import(ctx, state); err != nil {
			return fmt.Errorf("importing the repaired state of stack %q: %w", d.opts.stack, err)
		}
		fmt.Fprintf(d.stdout, "pending operations: %d resolved\n", len(resolutions))
		for _, r := range resolutions {
			fmt.Fprintf(d.stdout, "  %s\n", r)
		}
	}
	fmt.Fprintf(d.stdout, "refreshing stack %s from the cluster\n", d.opts.stack)
	if _, err := d.runRefresh(ctx); err != nil {
		return fmt.Errorf("%w; the state is repaired but not yet refreshed: run `deploy recover %s` again", err, d.opts.stack)
	}
	fmt.Fprintf(d.stdout, "stack %s recovered: state and cluster agree; `deploy up %s` completes the interrupted update\n", d.opts.stack, d.opts.stack)
	return nil
}

// requireRecovered refuses to run over what an interrupted run left: an up would orphan the objects
// of pending creates (it makes new ones, under new names), and neither up nor destroy can act on an
// adopted object that was not read back from the cluster. It also says whether the state holds no
// resource at all (a new stack, or a destroyed one).
func (d *deployer) requireRecovered(ctx context.Context) (deployment json.RawMessage, empty bool, err error) {
	state, err := d.exportState(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("exporting the state of stack %q: %w", d.opts.stack, err)
	}
	pending, unread, err := staterepair.Leftovers(state.Deployment)
	if err != nil {
		return nil, false, fmt.Errorf("stack %q: %w", d.opts.stack, err)
	}
	if pending+unread > 0 {
		return nil, false, fmt.Errorf("stack %q holds what an interrupted run left (%d pending operation(s), %d adopted object(s) not yet read "+
			"back from the cluster), which %s would leave orphaned or fail on: run `deploy recover %s` first",
			d.opts.stack, pending, unread, d.opts.command, d.opts.stack)
	}
	var resources struct {
		Resources []json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal(state.Deployment, &resources); err != nil {
		return nil, false, fmt.Errorf("reading the exported state of stack %q: %w", d.opts.stack, err)
	}
	return state.Deployment, len(resources.Resources) == 0, nil
}

// repairStateFiles repairs, on a file backend, the stack's state files that a killed write left
// unreadable (see repairStateSidecars).
func (d *deployer) repairStateFiles() error {
	dir, project, ok, err := d.fileBackend()
	if !ok || err != nil {
		return err
	}
	removed, err := repairStateSidecars(dir, project, d.opts.stack)
	for _, path := range removed {
		fmt.Fprintf(d.stdout, "state: removed %s, a metadata file a killed write left unreadable (the state itself is written whole)\n", path)
	}
	return err
}

// fileBackend is the folder of the stack's file backend and the project's name; ok is false for any
// other backend, whose files cannot be read from here.
func (d *deployer) fileBackend() (dir, project string, ok bool, err error) {
	dir, ok = fileBackendDir(d.env["PULUMI_BACKEND_URL"])
	if !ok {
		return "", "", false, nil
	}
	if project, err = projectName(d.tools.Root); err != nil {
		return "", "", false, invalid(err)
	}
	return dir, project, true, nil
}

// stackLocks reads the stack's lock files; ok is false when the backend is not a file backend.
func (d *deployer) stackLocks() (locks []lock, ok bool, err error) {
	dir, project, ok, err := d.fileBackend()
	if !ok || err != nil {
		return nil, ok, err
	}
	locks, err = readLocks(dir, project, d.opts.stack)
	return locks, true, err
}

// lock is one lock file of a file backend, as the Pulumi CLI writes it when a run starts.
type lock struct {
	path      string
	PID       int       `json:"pid"`
	Username  string    `json:"username"`
	Hostname  string    `json:"hostname"`
	Timestamp time.Time `json:"timestamp"`
}

func (l lock) String() string {
	return fmt.Sprintf("pid %d, %s@%s, since %s", l.PID, l.Username, l.Hostname, l.Timestamp.Format(time.RFC3339))
}

// clearDeadLocks removes the stack's locks whose run is dead, and refuses (leaving every lock in place)
// when one may belong to a live run. Only a file backend's locks can be read from here; a lock's pid
// is the Pulumi CLI's, which deploy's supervisor kills when deploy dies.
func (d *deployer) clearDeadLocks() error {
	locks, ok, err := d.stackLocks()
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintf(d.stdout, "lock: not inspected (the backend is not a file backend); if recover reports the stack locked and no run "+
			"is in progress, `deploy cancel %s` removes the lock, then run recover again\n", d.opts.stack)
		return nil
	}
	if len(locks) == 0 {
		fmt.Fprintln(d.stdout, "lock: none")
		return nil
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("reading this machine's host name to check the stack's lock: %w", err)
	}
	dead, held := classifyLocks(locks, host, processAlive)
	if len(held) > 0 {
		return fmt.Errorf("stack %q is locked by a run that may still be in progress, so recover changes nothing:\n  %s\n"+
			"wait for that run to end (when its deploy is stopped, its supervisor stops the Pulumi CLI and its plugins); "+
			"a lock of another machine cannot be checked from here: if its run is certainly over, `deploy cancel %s` removes it; "+
			"then run `deploy recover %s` again", d.opts.stack, strings.Join(held, "\n  "), d.opts.stack, d.opts.stack)
	}
	for _, l := range dead {
		// The backend's blob library keeps each file's attributes in a sidecar, removed with it.
		for _, path := range []string{l.path, l.path + ".attrs"} {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing the dead run's lock %s: %w", path, err)
			}
		}
		fmt.Fprintf(d.stdout, "lock: removed the lock of a dead run (%s)\n", l)
	}
	return nil
}

// refuseIfLocked fails as a locked update does when the stack holds a lock: a preview takes none, so an
// up that ends after its plan would otherwise call "nothing to change" a stack another run is changing.
// Only a file backend's locks can be read from here; another backend's are not checked.
func (d *deployer) refuseIfLocked() error {
	locks, _, err := d.stackLocks()
	if err != nil {
		return err
	}
	if len(locks) > 0 {
		// The engine's words, so the failure is reported as an update's would be (failures.go).
		return fmt.Errorf("stack %q: the stack is currently locked by %d lock(s): %s", d.opts.stack, len(locks), locks[0])
	}
	return nil
}

// classifyLocks splits locks into those of dead runs, safe to remove, and descriptions of those that
// may be held by a live one: a lock of another host, or of a process on this one that is still a
// Pulumi CLI (a pid reused by another program does not hold the lock).
func classifyLocks(locks []lock, host string, alive func(pid int) (running, pulumi bool)) (dead []lock, held []string) {
	for _, l := range locks {
		switch {
		case l.PID <= 0 || l.Hostname == "":
			held = append(held, fmt.Sprintf("%s: unreadable lock (no pid or host)", l.path))
		case l.Hostname != host:
			held = append(held, fmt.Sprintf("%s: a run on another machine (%s)", l.path, l))
		default:
			if running, pulumi := alive(l.PID); running && pulumi {
				held = append(held, fmt.Sprintf("%s: a live Pulumi CLI on this machine (%s)", l.path, l))
				continue
			}
			dead = append(dead, l)
		}
	}
	return dead, held
}

// fileBackendDir returns the folder of a file:// backend URL, as the Pulumi CLI reads it (a leading ~
// is the home folder; query options are not part of the path).
func fileBackendDir(url string) (string, bool) {
	path, ok := strings.CutPrefix(url, "file://")
	if !ok {
		return "", false
	}
	path, _, _ = strings.Cut(path, "?")
	if rest, ok := strings.CutPrefix(path, "~"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", false
		}
		path = home + rest
	}
	return filepath.FromSlash(path), path != ""
}

// repairStateSidecars removes the stack's state-file metadata sidecars that a killed write left
// unreadable, and returns their paths. A file backend writes each state file whole (to a temporary
// file, then renamed), but its metadata sidecar (NAME.attrs: content type and checksum) in place,
// truncating it first: a run killed in between leaves it empty, and every later read of the state
// fails with "failed to load checkpoint: EOF". The sidecar is optional, so removing it repairs the
// stack. Only the stack's own state files are looked at, in a project-scoped or a legacy backend.
func repairStateSidecars(backend, project, stack string) ([]string, error) {
	root := filepath.Join(backend, ".pulumi", "stacks")
	sidecars, err := backendFiles([]string{filepath.Join(root, project), root}, func(name string) bool {
		return strings.HasPrefix(name, stack+".") && strings.HasSuffix(name, ".attrs")
	})
	if err != nil {
		return nil, fmt.Errorf("reading the stack's state files: %w", err)
	}
	var removed []string
	for _, path := range sidecars {
		raw, err := os.ReadFile(path)
		if err != nil {
			return removed, fmt.Errorf("reading %s: %w", path, err)
		}
		if json.Valid(raw) {
			continue
		}
		if err := os.Remove(path); err != nil {
			return removed, fmt.Errorf("removing the unreadable %s: %w", path, err)
		}
		removed = append(removed, path)
	}
	return removed, nil
}

// backendFiles lists the files of dirs whose names match; a missing folder holds none.
func backendFiles(dirs []string, match func(name string) bool) ([]string, error) {
	var paths []string
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.IsDir() && match(e.Name()) {
				paths = append(paths, filepath.Join(dir, e.Name()))
			}
		}
	}
	return paths, nil
}

// projectName reads the project's name from Pulumi.yaml: file backends file locks under it.
func projectName(root string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(root, "Pulumi.yaml"))
	if err != nil {
		return "", fmt.Errorf("reading the project file: %w", err)
	}
	var project struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(raw, &project); err != nil || project.Name == "" {
		return "", fmt.Errorf("%s: no project name (%v)", filepath.Join(root, "Pulumi.yaml"), err)
	}
	return project.Name, nil
}

// readLocks reads the stack's lock files in a file backend: .pulumi/locks/organization/PROJECT/STACK
// in a project-scoped backend, .pulumi/locks/STACK in a legacy one.
func readLocks(backend, project, stack string) ([]lock, error) {
	root := filepath.Join(backend, ".pulumi", "locks")
	paths, err := backendFiles([]string{filepath.Join(root, "organization", project, stack), filepath.Join(root, stack)},
		func(name string) bool { return strings.HasSuffix(name, ".json") })
	if err != nil {
		return nil, fmt.Errorf("reading the stack's locks: %w", err)
	}
	var locks []lock
	for _, path := range paths {
		l := lock{path: path}
		raw, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading lock %s: %w", path, err)
		}
		// An unreadable lock keeps its zero pid and host, which classifyLocks never removes.
		_ = json.Unmarshal(raw, &l)
		locks = append(locks, l)
	}
	return locks, nil
}
