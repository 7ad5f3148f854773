package toolchain

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeProject lays out a project root with a tool module nested inside, the
// way tools/ sits in the real checkout, and returns the root.
func fakeProject(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write(t, filepath.Join(root, "go.mod"), "module "+modulePath+"\n\ngo 1.26.6\n")
	write(t, filepath.Join(root, "tools", "cluster", "go.mod"), "module "+modulePath+"/tools/cluster\n")
	if err := os.MkdirAll(filepath.Join(root, "tools", "cluster", "devcluster"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestFindFrom(t *testing.T) {
	root := fakeProject(t)
	tests := []struct {
		name string
		from string
	}{
		{name: "the root itself", from: root},
		{name: "a package folder", from: filepath.Join(root, "tools")},
		{name: "inside a tool module, whose go.mod is not the root's", from: filepath.Join(root, "tools", "cluster", "devcluster")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := FindFrom(tt.from)
			if err != nil {
				t.Fatalf("FindFrom(%s): %v", tt.from, err)
			}
			if tc.Root != root {
				t.Errorf("Root = %s, want %s", tc.Root, root)
			}
		})
	}
}

func TestFindFromOutsideProject(t *testing.T) {
	if _, err := FindFrom(t.TempDir()); err == nil || !strings.Contains(err.Error(), modulePath) {
		t.Errorf("FindFrom(empty dir) = %v, want an error naming %s", err, modulePath)
	}
}

func TestPath(t *testing.T) {
	root := fakeProject(t)
	write(t, filepath.Join(root, "bin", "pulumi"), "#!/bin/sh\n")
	write(t, filepath.Join(root, "bin", "kwok"), "")
	if err := os.Chmod(filepath.Join(root, "bin", "kwok"), 0o644); err != nil {
		t.Fatal(err)
	}
	tc := Toolchain{Root: root}
	tests := []struct {
		tool     Tool
		wantPath string
		wantErr  string
	}{
		{tool: Pulumi, wantPath: filepath.Join(root, "bin", "pulumi")},
		{tool: Kwokctl, wantErr: "run `make tools`"},
		{tool: Kwok, wantErr: "not an executable file"},
	}
	for _, tt := range tests {
		t.Run(string(tt.tool), func(t *testing.T) {
			path, err := tc.Path(tt.tool)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Path(%s) = %q, %v; want error containing %q", tt.tool, path, err, tt.wantErr)
				}
				return
			}
			if err != nil || path != tt.wantPath {
				t.Fatalf("Path(%s) = %q, %v; want %q", tt.tool, path, err, tt.wantPath)
			}
		})
	}
}

func TestRequireNamesEveryMissingTool(t *testing.T) {
	root := fakeProject(t)
	write(t, filepath.Join(root, "bin", "pulumi"), "#!/bin/sh\n")
	tc := Toolchain{Root: root}

	err := tc.Require(PulumiTools...)
	if err == nil {
		t.Fatal("Require(PulumiTools) = nil with only pulumi built")
	}
	for _, want := range []string{"pulumi-resource-kubernetes", "pulumi-resource-random", "make tools"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Require error %q does not mention %q", err, want)
		}
	}

	// The real random plugin lives in Pulumi's plugin cache, not bin/: its
	// stamp alone counts.
	write(t, filepath.Join(root, "bin", "pulumi-resource-kubernetes"), "#!/bin/sh\n")
	write(t, filepath.Join(root, "bin", ".stamps", "pulumi-resource-random"), "4.21.2-real\n")
	if err := tc.Require(PulumiTools...); err != nil {
		t.Errorf("Require(PulumiTools) with all built = %v", err)
	}
}

func TestPulumiEnvPutsBinFirst(t *testing.T) {
	t.Setenv("PATH", "/usr/bin")
	env := Toolchain{Root: "/project"}.PulumiEnv()
	if want := "/project/bin" + string(os.PathListSeparator) + "/usr/bin"; env["PATH"] != want {
		t.Errorf("PATH = %q, want %q", env["PATH"], want)
	}
	for _, key := range []string{"PULUMI_SKIP_UPDATE_CHECK", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"} {
		if env[key] != "true" {
			t.Errorf("%s = %q, want true", key, env[key])
		}
	}
}
