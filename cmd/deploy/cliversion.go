package main

import (
	"debug/buildinfo"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// cliVersionSymbol is the variable a Pulumi CLI build sets to its version with the linker's -X flag
// (the project's `make tools` does, as Pulumi's own release builds do).
const cliVersionSymbol = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"

// minimumCLIVersion is the oldest CLI the Automation API accepts, as the SDK's own check has it.
var minimumCLIVersion = semver.MustParse("3.2.0-alpha")

// pulumiVersion returns the version of the CLI in root's bin/, checked as the Automation API checks
// it. It reads the version from the binary's build information rather than running `pulumi
// version`, which costs every command 0.4 s; a binary that records none is run.
func pulumiVersion(root string) (semver.Version, error) {
	recorded := recordedCLIVersion(filepath.Join(root, "bin", "pulumi"))
	if recorded == "" {
		sdk, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root})
		if err != nil {
			return semver.Version{}, err
		}
		return sdk.Version(), nil
	}
	return checkCLIVersion(recorded)
}

// recordedCLIVersion returns the version the binary's linker flags set, or "" when they set none or
// it is no Go binary (a version manager's shell shim, say).
func recordedCLIVersion(path string) string {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, setting := range info.Settings {
		if setting.Key != "-ldflags" {
			continue
		}
		for _, field := range strings.Fields(setting.Value) {
			if value, ok := strings.CutPrefix(strings.Trim(field, `'"`), cliVersionSymbol+"="); ok {
				return value
			}
		}
	}
	return ""
}

// checkCLIVersion parses a CLI's version and refuses one the Automation API would refuse.
func checkCLIVersion(recorded string) (semver.Version, error) {
	v, err := semver.ParseTolerant(recorded)
	if err != nil {
		return semver.Version{}, fmt.Errorf("the Pulumi CLI's version %q does not parse: %w", recorded, err)
	}
	if v.Major != minimumCLIVersion.Major || v.LT(minimumCLIVersion) {
		return semver.Version{}, fmt.Errorf("the Pulumi CLI is version %s; the Automation API needs %d.x, at least %s", v, minimumCLIVersion.Major, minimumCLIVersion)
	}
	return v, nil
}
