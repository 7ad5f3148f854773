// Package proctree reads Linux's process table from /proc: a process's parent, state and start time,
// and the processes below one. deploy's supervisor uses it to find what the Pulumi CLI leaves behind,
// and the end-to-end tests to prove nothing survives.
package proctree

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Process is one entry of the process table.
type Process struct {
	PID, PPID int
	// State is the one-letter state of proc(5): R, S, D, Z (zombie: dead, awaiting its reaper)...
	State byte
	// StartTime is when the process started, in clock ticks after boot: with the pid, it names one
	// process, since pids are reused.
	StartTime uint64
}

// Live reports whether the process still runs: a zombie has exited.
func (p Process) Live() bool { return p.State != 'Z' }

// Read reads one process's entry.
func Read(pid int) (Process, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Process{}, err
	}
	return parseStat(pid, string(raw))
}

// parseStat parses /proc/PID/stat, whose second field, the command name in parentheses, may itself
// hold spaces and parentheses: the fields that follow start after the last ')'.
func parseStat(pid int, s string) (Process, error) {
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return Process{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	// After the name: state (3), ppid (4), ... starttime (22).
	fields := strings.Fields(s[end+1:])
	if len(fields) < 20 || len(fields[0]) != 1 {
		return Process{}, fmt.Errorf("/proc/%d/stat: %d fields after the command name, want 20 or more", pid, len(fields))
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return Process{}, fmt.Errorf("/proc/%d/stat: parent: %w", pid, err)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return Process{}, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return Process{PID: pid, PPID: ppid, State: fields[0][0], StartTime: start}, nil
}

// All reads every process; one that exits while the table is read is left out.
func All() ([]Process, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var all []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, err := Read(pid); err == nil {
			all = append(all, p)
		}
	}
	return all, nil
}

// Descendants lists the live processes below root, each after its parent. Zombies are left out of the
// list but not of the walk: the table is not read atomically, so a process may have been read with the
// parent it had before that parent exited and it was re-parented.
func Descendants(root int) ([]Process, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	return below(all, root), nil
}

// below is Descendants over a table already read.
func below(all []Process, root int) []Process {
	children := map[int][]Process{}
	for _, p := range all {
		children[p.PPID] = append(children[p.PPID], p)
	}
	var out []Process
	seen := map[int]bool{root: true}
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, child := range children[pid] {
			if seen[child.PID] {
				continue
			}
			seen[child.PID] = true
			if child.Live() {
				out = append(out, child)
			}
			queue = append(queue, child.PID)
		}
	}
	return out
}
