// Command nexios-images builds the container images the program's manifests
// use (see package imagebuild) as docker-archive tarballs, one per image,
// tagged with the reference the manifests use, for a node without registry
// access to import (`ctr -n k8s.io images import FILE`). `make images` runs
// it.
//
//	nexios-images build -bin-dir DIR [-out DIR] [-only NAME] [flags]
//	nexios-images list [-bin-dir DIR | -out DIR] [flags]
//
// list prints each image's reference and tarball, tab-separated, one a line.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nexios-labs/nexios-k8s/tools/images/imagebuild"
)

const usage = "usage: nexios-images build|list -bin-dir DIR [-out DIR] [-only NAME] [flags]"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		// One line per failed image.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(os.Stderr, "nexios-images:", line)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	command, args := args[0], args[1:]
	opts, err := parseOptions(command, args, stdout, stderr)
	if err != nil {
		return err
	}
	switch command {
	case "build":
		if opts.BinDir == "" {
			return errors.New("build: -bin-dir is required; " + usage)
		}
		_, err := imagebuild.Build(opts)
		return err
	case "list":
		for _, image := range imagebuild.List(opts) {
			fmt.Fprintf(stdout, "%s\t%s\n", image.Ref, image.Tarball)
		}
		return nil
	default:
		return fmt.Errorf("unknown command %q; %s", command, usage)
	}
}

func parseOptions(command string, args []string, stdout, stderr io.Writer) (imagebuild.Options, error) {
	opts := imagebuild.Options{Log: stdout}
	flags := flag.NewFlagSet("nexios-images "+command, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&opts.BinDir, "bin-dir", "", "folder holding the binaries, under upstream/ (make tools builds them)")
	flags.StringVar(&opts.OutDir, "out", "", "folder receiving one <name>.tar per image (default: <bin-dir>/images)")
	flags.StringVar(&opts.RootfsCache, "rootfs-cache", "", "folder keeping the Debian root filesystems mmdebstrap makes (default: <out>/.cache/rootfs)")
	flags.StringVar(&opts.Only, "only", "", "build this image only (its short name)")
	flags.StringVar(&opts.RepoDir, "repo", ".", "this repository's root (the example app's sources)")
	flags.StringVar(&opts.HostRoot, "host-root", "/", "root folder Debian's files are read from")
	flags.StringVar(&opts.ModCache, "modcache", defaultModCache(), "the Go module cache (go env GOMODCACHE)")
	flags.StringVar(&opts.Versions.CoreDNS, "coredns-version", imagebuild.DefaultVersions.CoreDNS, "coredns's version: the tag of registry.k8s.io/coredns/coredns")
	flags.StringVar(&opts.Versions.Pause, "pause-version", imagebuild.DefaultVersions.Pause, "pause's version: the tag of registry.k8s.io/pause")
	flags.StringVar(&opts.GoCommand, "go", "go", "the go command, which downloads the modules missing from -modcache (empty: none)")
	flags.StringVar(&opts.Mmdebstrap, "mmdebstrap", "mmdebstrap", "the mmdebstrap command")
	epoch := flags.String("epoch", os.Getenv("SOURCE_DATE_EPOCH"), "every timestamp in the images, in seconds since 1970 (default: $SOURCE_DATE_EPOCH, else 0)")
	if err := flags.Parse(args); err != nil {
		return opts, err
	}
	if flags.NArg() > 0 {
		return opts, fmt.Errorf("unexpected arguments %q; %s", flags.Args(), usage)
	}
	if *epoch != "" {
		seconds, err := strconv.ParseInt(*epoch, 10, 64)
		if err != nil || seconds < 0 {
			return opts, fmt.Errorf("-epoch %q: want seconds since 1970", *epoch)
		}
		opts.Epoch = seconds
	}
	if opts.OutDir == "" {
		if opts.BinDir == "" {
			return opts, errors.New("-out or -bin-dir is required; " + usage)
		}
		opts.OutDir = filepath.Join(opts.BinDir, "images")
	}
	return opts, nil
}

// defaultModCache is where the go command keeps modules when GOMODCACHE is
// not set: the first GOPATH entry's pkg/mod.
func defaultModCache() string {
	if dir := os.Getenv("GOMODCACHE"); dir != "" {
		return dir
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		gopath = filepath.Join(home, "go")
	}
	return filepath.Join(filepath.SplitList(gopath)[0], "pkg", "mod")
}
