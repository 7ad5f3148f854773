package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckCLIVersion(t *testing.T) {
	for _, tc := range []struct {
		recorded, want, wantErr string
	}{
		{"v3.274.1", "3.274.1", ""},
		{"3.2.0-alpha", "3.2.0-alpha", ""},
		{"v3.1.0", "", "at least 3.2.0-alpha"},
		{"v4.0.0", "", "needs 3.x"},
		{"v2.25.2", "", "needs 3.x"},
		{"unknown", "", "does not parse"},
	} {
		got, err := checkCLIVersion(tc.recorded)
		switch {
		case tc.wantErr == "" && (err != nil || got.String() != tc.want):
			t.Errorf("%q: %v, %v; want %s", tc.recorded, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want one saying %q", tc.recorded, err, tc.wantErr)
		}
	}
}

// TestRecordedCLIVersion builds binaries the way a CLI build sets its version, and without it.
func TestRecordedCLIVersion(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, ldflags, want string
	}{
		{"release", "-s -X " + cliVersionSymbol + "=v3.274.1", "v3.274.1"},
		{"quoted", "-X '" + cliVersionSymbol + "=v3.200.0'", "v3.200.0"},
		{"other symbol only", "-X main.version=v9", ""},
		{"no flags", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			buildGoProgram(t, bin, "package main\n\nfunc main() {}\n", tc.ldflags)
			if got := recordedCLIVersion(bin); got != tc.want {
				t.Errorf("recordedCLIVersion = %q, want %q", got, tc.want)
			}
		})
	}
	shim := filepath.Join(dir, "shim")
	if err := os.WriteFile(shim, []byte("#!/bin/sh\nexec pulumi \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := recordedCLIVersion(shim); got != "" {
		t.Errorf("a shell shim: %q, want none (the caller runs it)", got)
	}
}

// buildGoProgram builds the one-file program source into out with the linker flags ldflags.
func buildGoProgram(t *testing.T, out, source, ldflags string) {
	t.Helper()
	src := t.TempDir()
	for name, content := range map[string]string{"go.mod": "module standin\n\ngo 1.22\n", "main.go": source} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", out, "-ldflags="+ldflags, ".")
	build.Dir = src
	if output, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, output)
	}
}
