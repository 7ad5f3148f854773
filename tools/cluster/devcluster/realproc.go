package devcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where the real node's processes live in every cgroup v1
// hierarchy: its daemons under daemons/, its pods under kubepods/ (the
// kubelet's cgroupRoot). Killing every process below it and removing it
// leaves nothing of the node behind, whatever crashed on the way.
func (o Options) cgroupRoot() string { return "/nexios-" + o.Name }

// trackingHierarchy is the cgroup v1 hierarchy whose tree under cgroupRoot
// lists every process of the node: runc puts containers in it like in every
// other hierarchy, and daemons are started inside it.
const trackingHierarchy = "/sys/fs/cgroup/pids"

// cgroupHierarchies lists the mounted cgroup v1 hierarchies that the kubelet
// and runc create cgroups in or check.
func cgroupHierarchies() ([]string, error) {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil, fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		// Every hierarchy, the named systemd one and the cgroup2 mount of a
		// hybrid layout included: the kubelet checks its cgroup root in the
		// first and runc creates cgroups in the second.
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join("/sys/fs/cgroup", e.Name())
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
			dirs = append(dirs, dir)
		}
	}
	return dirs, nil
}

// createCgroups makes cgroupRoot in every hierarchy (the kubelet refuses a
// cgroupRoot that does not exist) and the daemons' cgroup in the tracking one.
func (o Options) createCgroups() error {
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	for _, h := range hierarchies {
		dir := filepath.Join(h, o.cgroupRoot())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if filepath.Base(h) == "cpuset" || strings.Contains(filepath.Base(h), "cpuset") {
			// A new cpuset starts with no CPUs and no memory nodes, and no
			// process can join it until they are set.
			for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
				value, err := os.ReadFile(filepath.Join(h, file))
				if err != nil {
					return fmt.Errorf("read %s: %w", file, err)
				}
				if err := os.WriteFile(filepath.Join(dir, file), value, 0o644); err != nil {
					return fmt.Errorf("set %s of %s: %w", file, dir, err)
				}
			}
		}
	}
	if err := os.MkdirAll(o.daemonCgroup(), 0o755); err != nil {
		return fmt.Errorf("create cgroup for the node's daemons: %w", err)
	}
	return nil
}

func (o Options) daemonCgroup() string {
	return filepath.Join(trackingHierarchy, o.cgroupRoot(), "daemons")
}

// daemon is one long-running process of the real node.
type daemon struct {
	name   string
	binary string
	args   []string
	env    []string
}

// startDaemon starts d detached, inside the node's network namespace and the
// daemons' cgroup, logging to its own file. The shell joins the cgroup before
// it execs, so not even the daemon's first child escapes it.
func (o Options) startDaemon(d daemon) error {
	if err := os.MkdirAll(o.nodeLogDir(), 0o755); err != nil {
		return fmt.Errorf("create log folder: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(o.nodeLogDir(), d.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", d.name, err)
	}
	defer logFile.Close()
	const script = `echo $$ > "$NEXIOS_CGROUP_PROCS" && exec nsenter --net="$NEXIOS_NETNS" -- "$@"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh", d.binary}, d.args...)...)
	cmd.Env = append(append(os.Environ(),
		"NEXIOS_CGROUP_PROCS="+filepath.Join(o.daemonCgroup(), "cgroup.procs"),
		"NEXIOS_NETNS="+o.netnsPath(),
		// Each daemon finds runc, the CNI plugins' helpers and iptables here.
		"PATH="+o.absBinDir()+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	), d.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A session of its own: the daemon outlives nexios-cluster and ignores
	// the terminal's Ctrl-C.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", d.name, err)
	}
	if err := os.WriteFile(o.pidFile(d.name), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return fmt.Errorf("write %s pid: %w", d.name, err)
	}
	exited := make(chan struct{})
	// Reap it if it exits while nexios-cluster still runs.
	go func() { _ = cmd.Wait(); close(exited) }()
	// daemonAlive recognises the daemon by its cgroup, which the shell joins
	// a moment after it starts.
	for deadline := time.Now().Add(5 * time.Second); !o.daemonAlive(d.name); time.Sleep(10 * time.Millisecond) {
		select {
		case <-exited:
			return fmt.Errorf("%s exited at once; see %s", d.name, logFile.Name())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not join cgroup %s", d.name, o.daemonCgroup())
		}
	}
	return nil
}

func (o Options) pidFile(name string) string { return filepath.Join(o.nodeRunDir(), name+".pid") }

// daemonAlive reports whether the daemon named name is running.
func (o Options) daemonAlive(name string) bool {
	data, err := os.ReadFile(o.pidFile(name))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	// A reused pid belongs to another process: check it is still in the
	// node's cgroup.
	cgroups, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	return err == nil && strings.Contains(string(cgroups), o.cgroupRoot()+"/")
}

// stopDaemon asks the named daemon to stop, waiting up to grace.
func (o Options) stopDaemon(name string, grace time.Duration) {
	data, err := os.ReadFile(o.pidFile(name))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !o.daemonAlive(name) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(grace); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
	}
}

// killNodeProcesses kills every process under the node's cgroup root (its
// daemons, the container shims and every container) until none is left.
func (o Options) killNodeProcesses(ctx context.Context) error {
	root := filepath.Join(trackingHierarchy, o.cgroupRoot())
	for {
		pids, err := cgroupProcs(root)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("processes of the real node still running: %v: %w", pids, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// cgroupProcs lists the processes in the cgroup tree at root.
func cgroupProcs(root string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, field := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(field); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list processes of %s: %w", root, err)
	}
	return pids, nil
}

// removeCgroups removes the node's cgroup tree from every hierarchy, deepest
// first (a cgroup is removed with rmdir once it has no children).
func (o Options) removeCgroups() error {
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hierarchies {
		root := filepath.Join(h, o.cgroupRoot())
		var dirs []string
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		slices.Reverse(dirs)
		for _, dir := range dirs {
			if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
			}
		}
	}
	return errors.Join(errs...)
}

// unmountUnder unmounts every mount point under the given folders, deepest
// first: the kubelet's volumes, the containers' root filesystems, the pods'
// network namespaces and the kubelet's own bind mount of its root folder.
func unmountUnder(dirs ...string) error {
	for range 10 {
		mounts, err := mountPointsUnder(dirs)
		if err != nil {
			return err
		}
		if len(mounts) == 0 {
			return nil
		}
		for _, m := range mounts {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("unmount %s: %w", m, err)
			}
		}
	}
	mounts, err := mountPointsUnder(dirs)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("still mounted: %s", strings.Join(mounts, ", "))
	}
	return nil
}

// mountPointsUnder reads this mount namespace's mount table and returns the
// mount points inside dirs, longest path first.
func mountPointsUnder(dirs []string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	var found []string
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 5 {
			continue
		}
		point := unescapeMountPath(fields[4])
		for _, dir := range dirs {
			if point == dir || strings.HasPrefix(point, dir+"/") {
				found = append(found, point)
				break
			}
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	slices.SortFunc(found, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(found), nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
