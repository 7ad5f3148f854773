// Package imagebuild assembles the container images the program's manifests
// use, from files built or installed on this machine, with
// go-containerregistry, and writes each as a docker-archive tarball tagged
// with its reference (what `ctr images import` reads). Specs in specs.go say
// what goes in each image; the same inputs give the same image digest.
package imagebuild

import (
	"fmt"
	"strings"
)

// Spec is one image: a base, one layer of contents on top and the config
// changes upstream's Dockerfile makes.
type Spec struct {
	// Name is the short name: the tarball is <out>/<Name>.tar.
	Name string
	// Ref is the reference the manifests use; the tarball is tagged with it.
	Ref string
	// Base is the image built on.
	Base *Base
	// Upstream names the Dockerfile the layout reproduces.
	Upstream string
	// Contents make the image's own layer.
	Contents []Contents
	// Config is applied over the base's config as a Dockerfile would.
	Config Config
}

// Base is an image the specs build on: one layer and its config.
type Base struct {
	Name     string
	Upstream string
	// Contents make the base's layer, later entries replacing earlier ones at
	// the same path; none means no layer (scratch).
	Contents []Contents
	Config   Config
}

// Config is the part of an image config a Dockerfile sets. Merged over a
// base's config, as `docker build` does: set fields replace the base's,
// Env replaces variables by name, ports, volumes and labels add up, and a
// new Entrypoint without a Cmd clears the base's Cmd.
type Config struct {
	User         string
	WorkingDir   string
	Entrypoint   []string
	Cmd          []string
	Env          []string // NAME=value
	ExposedPorts []string // port/protocol
	Volumes      []string
	Labels       map[string]string
	// StopSignal is the signal the runtime stops the container with
	// (containerd's CRI sends it instead of SIGTERM).
	StopSignal string
}

// Source is where an input file comes from; Bin, Module, Host and Repo
// make one.
type Source struct {
	root    rootKind
	path    string // relative to the root (Host: absolute in the host's root)
	module  string // Module: path@version
	debPkgs string // Host: the Debian package that installs it
}

type rootKind int

const (
	rootBin rootKind = iota + 1
	rootModule
	rootHost
	rootRepo
)

// Bin is a file under the bin folder (-bin-dir), built by `make tools`.
func Bin(path string) Source { return Source{root: rootBin, path: path} }

// Module is a file of a Go module (path@version) in the module cache.
func Module(module, path string) Source { return Source{root: rootModule, module: module, path: path} }

// Host is a file or folder of this machine (under -host-root) that the
// Debian package pkg installs.
func Host(path, pkg string) Source { return Source{root: rootHost, path: path, debPkgs: pkg} }

// Repo is a file or folder of this repository (-repo).
func Repo(path string) Source { return Source{root: rootRepo, path: path} }

func (s Source) String() string {
	switch s.root {
	case rootBin:
		return "bin/" + s.path
	case rootModule:
		return s.module + "/" + s.path
	default:
		return s.path
	}
}

// vTag is a version as a tag with a leading v (coredns: v1.12.0).
func vTag(version string) string { return "v" + strings.TrimPrefix(version, "v") }

// bareTag is a version as a tag without one (pause: 3.10).
func bareTag(version string) string { return strings.TrimPrefix(version, "v") }

// validate reports what makes the specs unusable: duplicate names or
// references, relative paths.
func validate(specs []Spec) error {
	var problems []string
	names, refs := map[string]bool{}, map[string]bool{}
	for _, s := range specs {
		if s.Name == "" || strings.ContainsAny(s.Name, "/ ") {
			problems = append(problems, fmt.Sprintf("image name %q: want a plain file name", s.Name))
		}
		if names[s.Name] {
			problems = append(problems, fmt.Sprintf("image name %q: used twice", s.Name))
		}
		if refs[s.Ref] {
			problems = append(problems, fmt.Sprintf("image %s: reference %q used twice", s.Name, s.Ref))
		}
		names[s.Name], refs[s.Ref] = true, true
		if s.Base == nil {
			problems = append(problems, fmt.Sprintf("image %s: no base", s.Name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("image specs: %s", strings.Join(problems, "; "))
	}
	return nil
}
