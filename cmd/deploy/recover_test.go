package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClassifyLocks(t *testing.T) {
	at := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	locks := []lock{
		{path: "dead", PID: 101, Hostname: "here", Username: "ci", Timestamp: at},
		{path: "live", PID: 102, Hostname: "here", Username: "ci", Timestamp: at},
		{path: "reused", PID: 103, Hostname: "here", Username: "ci", Timestamp: at},
		{path: "remote", PID: 101, Hostname: "runner-7", Username: "ci", Timestamp: at},
		{path: "garbled"},
	}
	alive := func(pid int) (bool, bool) {
		switch pid {
		case 102:
			return true, true
		case 103:
			return true, false
		}
		return false, false
	}
	dead, held := classifyLocks(locks, "here", alive)
	if len(dead) != 2 || dead[0].path != "dead" || dead[1].path != "reused" {
		t.Errorf("dead locks %v, want the dead process's and the reused pid's", dead)
	}
	text := strings.Join(held, "\n")
	for _, want := range []string{"live: a live Pulumi CLI on this machine (pid 102, ci@here, since 2026-12-01T05:00:00Z)", "remote: a run on another machine", "garbled: unreadable lock"} {
		if !strings.Contains(text, want) {
			t.Errorf("held locks lack %q:\n%s", want, text)
		}
	}
}

func TestReadLocksReadsOnlyTheStacksLocks(t *testing.T) {
	backend := t.TempDir()
	write := func(rel, content string) {
		path := filepath.Join(backend, ".pulumi", "locks", rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("organization/nexios/dev/a.json", `{"pid": 42, "username": "ci", "hostname": "here", "timestamp": "2026-12-01T05:00:00Z"}`)
	write("organization/nexios/dev/b.json", `not json`)
	write("organization/nexios/prod/c.json", `{"pid": 43, "hostname": "here"}`)
	write("organization/other/dev/d.json", `{"pid": 44, "hostname": "here"}`)
	write("dev/e.json", `{"pid": 45, "hostname": "here"}`)
	locks, err := readLocks(backend, "nexios", "dev")
	if err != nil {
		t.Fatal(err)
	}
	pids := map[int]bool{}
	for _, l := range locks {
		pids[l.PID] = true
	}
	if len(locks) != 3 || !pids[42] || !pids[0] || !pids[45] {
		t.Errorf("locks %+v, want dev's two (one unreadable, so pid 0) and the legacy one", locks)
	}
	if locks, err := readLocks(t.TempDir(), "nexios", "dev"); err != nil || len(locks) != 0 {
		t.Errorf("a backend without locks: %v, %v", locks, err)
	}
}

func TestFileBackendDir(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip(err)
	}
	for url, want := range map[string]string{
		"file:///work/main/.state":        "/work/main/.state",
		"file://~/state":                  filepath.Join(home, "state"),
		"file:///srv/state?no_tmp_dir=on": "/srv/state",
		"s3://bucket/state":               "",
		"https://api.pulumi.com":          "",
		"file://":                         "",
	} {
		got, ok := fileBackendDir(url)
		if got != want || ok != (want != "") {
			t.Errorf("fileBackendDir(%q) = %q, %v; want %q", url, got, ok, want)
		}
	}
}

func TestProjectName(t *testing.T) {
	dir := t.TempDir()
	if _, err := projectName(dir); err == nil {
		t.Error("no Pulumi.yaml: no error")
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte("name: nexios\nruntime: go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if name, err := projectName(dir); name != "nexios" || err != nil {
		t.Errorf("projectName = %q, %v", name, err)
	}
}

func TestRepairStateSidecarsRemovesOnlyTheStacksUnreadableOnes(t *testing.T) {
	backend := t.TempDir()
	dir := filepath.Join(backend, ".pulumi", "stacks", "nexios")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"dev.json":           `{"version": 3}`,
		"dev.json.attrs":     ``, // truncated by a killed write
		"dev.json.bak.attrs": `{"user.content_type": "application/json"}`,
		"prod.json.attrs":    ``, // another stack's: not recover's business
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := repairStateSidecars(backend, "nexios", "dev")
	if err != nil || len(removed) != 1 || filepath.Base(removed[0]) != "dev.json.attrs" {
		t.Fatalf("removed %v, %v; want dev.json.attrs only", removed, err)
	}
	for name := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := err != nil; gone != (name == "dev.json.attrs") {
			t.Errorf("%s: gone = %v", name, gone)
		}
	}
	if removed, err := repairStateSidecars(t.TempDir(), "nexios", "dev"); err != nil || len(removed) != 0 {
		t.Errorf("an empty backend: %v, %v", removed, err)
	}
}
