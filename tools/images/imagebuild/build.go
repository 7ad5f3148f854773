package imagebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Options say where the inputs are and where the images go.
type Options struct {
	// BinDir holds the binaries (upstream/...).
	BinDir string
	// OutDir receives <name>.tar per image; its .cache and .stamps folders
	// hold the layer cache and the stamps.
	OutDir string
	// RootfsCache keeps the root filesystems mmdebstrap makes (default:
	// OutDir/.cache/rootfs, where unused ones are removed; elsewhere, such
	// as a cache shared by checkouts, none are).
	RootfsCache string
	// RepoDir is this repository's root (the example app's sources).
	RepoDir string
	// HostRoot is where Debian's files are looked up ("/" but in tests).
	HostRoot string
	// ModCache is the Go module cache (go env GOMODCACHE).
	ModCache string
	// GoCommand, when set, downloads the modules missing from ModCache.
	GoCommand string
	// Versions give the tags of coredns and pause.
	Versions Versions
	// Only, when set, is the one image to build.
	Only string
	// Epoch is every timestamp in the images, in seconds since 1970.
	Epoch int64
	// Mmdebstrap is the mmdebstrap command ("mmdebstrap" but in tests).
	Mmdebstrap string
	// Log receives one line per image (nothing if nil).
	Log io.Writer
}

func (o *Options) cacheDir() string      { return filepath.Join(o.OutDir, ".cache") }
func (o *Options) stampDir() string      { return filepath.Join(o.OutDir, ".stamps") }
func (o *Options) epoch() time.Time      { return time.Unix(o.Epoch, 0).UTC() }
func (o *Options) tarball(s Spec) string { return filepath.Join(o.OutDir, s.Name+".tar") }

func (o *Options) rootfsDir() string {
	if o.RootfsCache != "" {
		return o.RootfsCache
	}
	return filepath.Join(o.cacheDir(), "rootfs")
}

func (o *Options) mmdebstrap() string {
	if o.Mmdebstrap != "" {
		return o.Mmdebstrap
	}
	return "mmdebstrap"
}

func (o *Options) log() io.Writer {
	if o.Log == nil {
		return io.Discard
	}
	return o.Log
}

// Listed is an image's reference and tarball.
type Listed struct {
	Ref     string
	Tarball string
}

// List is every image's reference and tarball, in build order.
func List(opts Options) []Listed {
	var listed []Listed
	for _, s := range Specs(opts.Versions) {
		listed = append(listed, Listed{Ref: s.Ref, Tarball: opts.tarball(s)})
	}
	return listed
}

// Result is what Build did for one image.
type Result struct {
	Name, Ref, Tarball string
	// Built is false when the tarball was up to date.
	Built bool
	// ImageID is the config's digest (what `docker images` and containerd
	// call the image ID); Digest is the manifest's.
	ImageID, Digest string
	Size            int64
	Took            time.Duration
}

// Build writes every image (or Only) whose inputs changed since it was last
// written, and reports on each. One image's missing input does not stop the
// others; the error names every image that failed.
func Build(opts Options) ([]Result, error) {
	specs := Specs(opts.Versions)
	if err := validate(specs); err != nil {
		return nil, err
	}
	if opts.Only != "" {
		var only []Spec
		for _, s := range specs {
			if s.Name == opts.Only {
				only = append(only, s)
			}
		}
		if len(only) == 0 {
			return nil, fmt.Errorf("no image named %q; the images are %s", opts.Only, strings.Join(names(specs), ", "))
		}
		specs = only
	}
	r := &resolver{
		opts:    &opts,
		digests: loadDigestCache(filepath.Join(opts.cacheDir(), "digests.json")),
		used:    map[string]bool{},
		bases:   map[*Base]baseLayer{},
	}
	var results []Result
	var errs []error
	for _, s := range specs {
		res, err := r.build(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("image %s (%s): %w", s.Name, s.Ref, err))
			continue
		}
		results = append(results, res)
		if res.Built {
			fmt.Fprintf(opts.log(), "images: built %s (%s) in %s: %s, %.1f MB, id %s\n",
				s.Name, s.Ref, res.Took.Round(100*time.Millisecond), res.Tarball, float64(res.Size)/1e6, res.ImageID)
		} else {
			fmt.Fprintf(opts.log(), "images: %s (%s) is up to date: %s\n", s.Name, s.Ref, res.Tarball)
		}
	}
	if err := r.digests.save(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 && opts.Only == "" {
		if err := r.prune(); err != nil {
			errs = append(errs, err)
		}
	}
	return results, errors.Join(errs...)
}

// baseLayer is a base's entries, resolved once per build.
type baseLayer struct {
	entries map[string]*entry
	sorted  []*entry
	key     string
}

func (r *resolver) base(b *Base) (baseLayer, error) {
	if bl, ok := r.bases[b]; ok {
		return bl, nil
	}
	entries, err := r.layerEntries(b.Contents, nil)
	if err != nil {
		return baseLayer{}, fmt.Errorf("base %s: %w", b.Name, err)
	}
	bl := baseLayer{entries: entries}
	if len(entries) > 0 {
		bl.sorted = sortedEntries(entries)
		bl.key = layerKey(bl.sorted)
	}
	r.bases[b] = bl
	return bl, nil
}

// build writes one image unless its stamp shows the tarball holds these
// inputs already.
func (r *resolver) build(s Spec) (Result, error) {
	start := time.Now()
	res := Result{Name: s.Name, Ref: s.Ref, Tarball: r.opts.tarball(s)}
	tag, err := name.NewTag(s.Ref)
	if err != nil {
		return res, err
	}
	base, err := r.base(s.Base)
	if err != nil {
		return res, err
	}
	top, err := r.layerEntries(s.Contents, base.entries)
	if err != nil {
		return res, err
	}
	topSorted := sortedEntries(top)
	topKey := layerKey(topSorted)

	cfg := s.Config.over(s.Base.Config.over(v1.Config{}))
	history := []v1.History{{Created: v1.Time{Time: r.opts.epoch()}, CreatedBy: "nexios-images: " + s.Name + " from " + s.Upstream}}
	if base.key != "" {
		history = append([]v1.History{{Created: v1.Time{Time: r.opts.epoch()}, CreatedBy: "nexios-images: base " + s.Base.Name + " as " + s.Base.Upstream}}, history...)
	}
	key, err := imageKey(s.Ref, r.opts.Epoch, []string{base.key, topKey}, cfg, history)
	if err != nil {
		return res, err
	}
	stamp := filepath.Join(r.opts.stampDir(), s.Name)
	if have, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(have)) == key {
		if fi, err := os.Stat(res.Tarball); err == nil {
			res.Size = fi.Size()
			r.markUsed(base.key)
			return res, nil
		}
	}

	img, cleanup, err := r.assemble(s, base, topSorted, topKey, cfg, history)
	defer cleanup()
	if err != nil {
		return res, err
	}

	if err := os.Remove(stamp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, err
	}
	tmp := res.Tarball + ".tmp"
	if err := os.MkdirAll(r.opts.OutDir, 0o755); err != nil {
		return res, err
	}
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("write %s: %w", res.Tarball, err)
	}
	if err := os.Rename(tmp, res.Tarball); err != nil {
		return res, err
	}
	if err := os.MkdirAll(r.opts.stampDir(), 0o755); err != nil {
		return res, err
	}
	if err := os.WriteFile(stamp, []byte(key+"\n"), 0o644); err != nil {
		return res, err
	}
	id, err := img.ConfigName()
	if err != nil {
		return res, err
	}
	digest, err := img.Digest()
	if err != nil {
		return res, err
	}
	fi, err := os.Stat(res.Tarball)
	if err != nil {
		return res, err
	}
	res.Built, res.ImageID, res.Digest, res.Size, res.Took = true, id.String(), digest.String(), fi.Size(), time.Since(start)
	return res, nil
}

// assemble is the image: the config, then the base's layer (if any) and the
// image's own, each with its history entry. The base's layer stays in the
// layer cache for the next image on that base; the image's own is only in
// its tarball once cleanup has run.
func (r *resolver) assemble(s Spec, base baseLayer, top []*entry, topKey string, cfg v1.Config, history []v1.History) (img v1.Image, cleanup func(), err error) {
	cleanup = func() {}
	img, err = mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: r.opts.epoch()},
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, cleanup, err
	}
	var adds []mutate.Addendum
	if base.key != "" {
		layer, err := r.cachedLayer(base.sorted, base.key)
		if err != nil {
			return nil, cleanup, fmt.Errorf("base %s: %w", s.Base.Name, err)
		}
		adds = append(adds, mutate.Addendum{Layer: layer, History: history[0]})
	}
	work := filepath.Join(r.opts.cacheDir(), "work", topKey+".tar.gz")
	cleanup = func() { os.Remove(work) }
	if err := writeLayer(work, top, r.opts.epoch()); err != nil {
		return nil, cleanup, err
	}
	layer, err := tarball.LayerFromFile(work)
	if err != nil {
		return nil, cleanup, err
	}
	adds = append(adds, mutate.Addendum{Layer: layer, History: history[len(history)-1]})
	img, err = mutate.Append(img, adds...)
	return img, cleanup, err
}

// imageKey identifies an image: its reference, timestamps, layers and
// config.
func imageKey(ref string, epoch int64, layers []string, cfg v1.Config, history []v1.History) (string, error) {
	data, err := json.Marshal(struct {
		Version string
		Ref     string
		Epoch   int64
		Arch    string
		Layers  []string
		Config  v1.Config
		History []v1.History
	}{layerVersion, ref, epoch, runtime.GOARCH, layers, cfg, history})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

func (r *resolver) markUsed(keys ...string) {
	for _, key := range keys {
		if key != "" {
			r.used[filepath.Join(r.opts.cacheDir(), "layers", key+".tar.gz")] = true
		}
	}
}

// prune removes the cached layers and root filesystems no image uses any
// more, and leftovers of interrupted builds. A root filesystem cache outside
// the output folder is left alone.
func (r *resolver) prune() error {
	var errs []error
	for _, dir := range []string{"layers", "rootfs", "work"} {
		files, err := filepath.Glob(filepath.Join(r.opts.cacheDir(), dir, "*"))
		if err != nil {
			return err
		}
		for _, f := range files {
			if !r.used[f] {
				if err := os.RemoveAll(f); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// over is c applied over base as `docker build` applies a Dockerfile's
// instructions to its FROM image's config.
func (c Config) over(base v1.Config) v1.Config {
	out := *base.DeepCopy()
	if c.User != "" {
		out.User = c.User
	}
	if c.WorkingDir != "" {
		out.WorkingDir = c.WorkingDir
	}
	if c.Entrypoint != nil {
		out.Entrypoint = append([]string(nil), c.Entrypoint...)
		out.Cmd = nil
	}
	if c.Cmd != nil {
		out.Cmd = append([]string(nil), c.Cmd...)
	}
	for _, kv := range c.Env {
		name, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out.Env {
			if oldName, _, _ := strings.Cut(old, "="); oldName == name {
				out.Env[i], replaced = kv, true
			}
		}
		if !replaced {
			out.Env = append(out.Env, kv)
		}
	}
	for _, port := range c.ExposedPorts {
		if out.ExposedPorts == nil {
			out.ExposedPorts = map[string]struct{}{}
		}
		out.ExposedPorts[port] = struct{}{}
	}
	for _, volume := range c.Volumes {
		if out.Volumes == nil {
			out.Volumes = map[string]struct{}{}
		}
		out.Volumes[volume] = struct{}{}
	}
	if c.StopSignal != "" {
		out.StopSignal = c.StopSignal
	}
	for k, v := range c.Labels {
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
		out.Labels[k] = v
	}
	return out
}

// names is the specs' names, sorted.
func names(specs []Spec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}
