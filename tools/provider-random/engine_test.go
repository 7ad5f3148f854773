package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optimport"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"golang.org/x/crypto/bcrypt"
)

// repoRoot is where `make tools` puts bin/pulumi, relative to this package.
const repoRoot = "../.."

// importedPassword is the ID handed to the import steps.
const importedPassword = "Imported-pa55word"

// TestEngineLifecycle drives the built stand-in through the real engine, the
// way `pulumi up` in this repository does: create, re-run without changes,
// refresh without drift, replace on a keepers change, import, destroy.
func TestEngineLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("engine test skipped in -short mode")
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "pulumi")); err != nil {
		t.Skipf("engine test skipped: %s/bin/pulumi is not built (make tools builds it)", root)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pluginDir := filepath.Join(dir, "bin")
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(pluginDir, "pulumi-resource-random"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in: %v\n%s", err, out)
	}

	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}

	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root})
	if err != nil {
		t.Fatalf("using %s/bin/pulumi: %v", root, err)
	}
	// The program reads these on every run, so each step changes them first.
	rotation, withImport := "1", false
	program := func(ctx *pulumi.Context) error {
		password, err := random.NewRandomPassword(ctx, "db-password", &random.RandomPasswordArgs{
			Length:          pulumi.Int(20),
			MinUpper:        pulumi.Int(2),
			MinSpecial:      pulumi.Int(2),
			OverrideSpecial: pulumi.String("-_.~"),
			Keepers:         pulumi.StringMap{"rotation": pulumi.String(rotation)},
		})
		if err != nil {
			return err
		}
		ctx.Export("result", password.Result)
		ctx.Export("bcryptHash", password.BcryptHash)
		if withImport {
			imported, err := random.NewRandomPassword(ctx, "imported", &random.RandomPasswordArgs{
				Length: pulumi.Int(len(importedPassword)),
			}, pulumi.Import(pulumi.ID(importedPassword)))
			if err != nil {
				return err
			}
			ctx.Export("imported", imported.Result)
		}
		return nil
	}
	stack, err := auto.UpsertStackInlineSource(ctx, "test", "provider-random-engine-test", program,
		auto.Pulumi(cli),
		auto.Project(workspace.Project{
			Name:    "provider-random-engine-test",
			Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: "file://" + state},
		}),
		auto.PulumiHome(filepath.Join(dir, "home")),
		auto.SecretsProvider("passphrase"),
		auto.EnvVars(map[string]string{
			"PULUMI_CONFIG_PASSPHRASE": "engine-test",
			"PULUMI_SKIP_UPDATE_CHECK": "true",
			// The stand-in just built comes first, so the engine takes it as
			// the ambient plugin over any in bin/ or the plugin cache.
			"PATH": strings.Join([]string{pluginDir, filepath.Join(root, "bin"), os.Getenv("PATH")},
				string(os.PathListSeparator)),
		}),
	)
	if err != nil {
		t.Fatalf("creating the stack: %v", err)
	}

	first := up(ctx, t, stack, "create", map[string]int{"create": 2})
	result := secretOutput(t, first, "result")
	if len(result) != 20 {
		t.Errorf("result has %d characters, want 20", len(result))
	}
	if err := bcrypt.CompareHashAndPassword([]byte(secretOutput(t, first, "bcryptHash")), []byte(result)); err != nil {
		t.Errorf("bcryptHash does not verify against result: %v", err)
	}

	again := up(ctx, t, stack, "re-run", map[string]int{"same": 2})
	if secretOutput(t, again, "result") != result {
		t.Error("re-run changed the password")
	}

	if _, err := stack.Refresh(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	afterRefresh := up(ctx, t, stack, "after refresh", map[string]int{"same": 2})
	if secretOutput(t, afterRefresh, "result") != result {
		t.Error("refresh changed the password")
	}

	rotation = "2"
	rotated := up(ctx, t, stack, "keepers change", map[string]int{"same": 1, "replace": 1})
	if secretOutput(t, rotated, "result") == result {
		t.Error("replacing on a keepers change kept the old password")
	}

	withImport = true
	imported := up(ctx, t, stack, "import", map[string]int{"same": 2, "import": 1})
	if got := secretOutput(t, imported, "imported"); got != importedPassword {
		t.Errorf("imported result = %q, want %q", got, importedPassword)
	}

	t.Run("pulumi import", func(t *testing.T) {
		// The CLI needs the Go language host even when it generates no code.
		if _, err := exec.LookPath("pulumi-language-go"); err != nil {
			if _, err := os.Stat(filepath.Join(root, "bin", "pulumi-language-go")); err != nil {
				t.Skip("skipped: pulumi-language-go, which `pulumi import` needs, is neither in bin/ nor on PATH")
			}
		}
		if _, err := stack.ImportResources(ctx, optimport.Resources([]*optimport.ImportResource{{
			Type: passwordType, Name: "cli-imported", ID: importedPassword,
		}}), optimport.GenerateCode(false)); err != nil {
			t.Errorf("pulumi import: %v", err)
		}
	})

	if _, err := stack.Destroy(ctx); err != nil {
		t.Fatalf("destroy: %v", err)
	}
}

// up runs `pulumi up` and checks the summary holds exactly wantChanges.
func up(ctx context.Context, t *testing.T, stack auto.Stack, step string, wantChanges map[string]int) auto.UpResult {
	t.Helper()
	result, err := stack.Up(ctx)
	if err != nil {
		t.Fatalf("%s: up: %v", step, err)
	}
	var changes map[string]int
	if result.Summary.ResourceChanges != nil {
		changes = *result.Summary.ResourceChanges
	}
	if len(changes) != len(wantChanges) {
		t.Errorf("%s: changes = %v, want %v", step, changes, wantChanges)
	}
	for kind, n := range wantChanges {
		if changes[kind] != n {
			t.Errorf("%s: changes = %v, want %v", step, changes, wantChanges)
			break
		}
	}
	return result
}

func secretOutput(t *testing.T, result auto.UpResult, name string) string {
	t.Helper()
	output, ok := result.Outputs[name]
	if !ok {
		t.Fatalf("stack output %s is missing", name)
	}
	if !output.Secret {
		t.Errorf("stack output %s is not secret", name)
	}
	value, ok := output.Value.(string)
	if !ok {
		t.Fatalf("stack output %s = %v, want a string", name, output.Value)
	}
	return value
}
