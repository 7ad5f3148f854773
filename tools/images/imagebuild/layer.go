package imagebuild

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// layerVersion changes whenever the way layers are written changes, so
// cached layers and images made the old way are rebuilt.
const layerVersion = "nexios-images layer 1"

// layerEntries collects what contents put in a layer, by path, later
// entries replacing earlier ones, with the folders above every entry: those
// of the layers below keep their owner and mode, missing ones are root's,
// mode 755 (as COPY makes them).
func (r *resolver) layerEntries(contents []Contents, below map[string]*entry) (map[string]*entry, error) {
	layer := map[string]*entry{}
	for _, c := range contents {
		entries, err := c.entries(r, below)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			layer[e.hdr.Name] = e
		}
	}
	for name := range layer {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if _, ok := layer[dir]; ok {
				continue
			}
			if b, ok := below[dir]; ok && b.hdr.Typeflag == tar.TypeDir {
				copied := *b
				layer[dir] = &copied
				continue
			}
			layer[dir] = dirEntry(dir, 0o755, 0, 0)
		}
	}
	for name, e := range layer {
		if e.hdr.Typeflag != tar.TypeLink {
			continue
		}
		if target, ok := layer[e.hdr.Linkname]; !ok || target.hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%s: hard link to %s, which is not a file of the same layer", name, e.hdr.Linkname)
		}
	}
	return layer, nil
}

// sortedEntries orders a layer as it is written: by name, which puts every
// folder before what it holds, and hard links after all else, so their
// targets come first.
func sortedEntries(layer map[string]*entry) []*entry {
	entries := make([]*entry, 0, len(layer))
	for _, e := range layer {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool {
		li, lj := entries[i].hdr.Typeflag == tar.TypeLink, entries[j].hdr.Typeflag == tar.TypeLink
		if li != lj {
			return lj
		}
		return entries[i].hdr.Name < entries[j].hdr.Name
	})
	return entries
}

// layerKey identifies a layer's content: every entry's header fields and
// content identity, in order.
func layerKey(entries []*entry) string {
	h := sha256.New()
	fmt.Fprintln(h, layerVersion)
	for _, e := range entries {
		hdr := e.hdr
		var pax []string
		for k, v := range hdr.PAXRecords {
			pax = append(pax, k+"="+hex.EncodeToString([]byte(v)))
		}
		sort.Strings(pax)
		fmt.Fprintf(h, "%q %c %o %d %d %d %q %d %d %s %s\n", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid,
			hdr.Size, hdr.Linkname, hdr.Devmajor, hdr.Devminor, strings.Join(pax, ","), e.id)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeLayer writes the entries as a gzipped layer tarball at dst (through a
// temporary file), every timestamp set to epoch and owners by number only.
func writeLayer(dst string, entries []*entry, epoch time.Time) (err error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".layer-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// The level go-containerregistry compresses layers with by default.
	zw, err := gzip.NewWriterLevel(tmp, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := e.hdr
		hdr.ModTime = epoch
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			return fmt.Errorf("layer entry %s: %w", hdr.Name, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if err := copyContent(tw, e); err != nil {
			return fmt.Errorf("layer entry %s: %w", hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func copyContent(w io.Writer, e *entry) error {
	rc, err := e.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.Copy(w, io.LimitReader(rc, e.hdr.Size))
	if err != nil {
		return err
	}
	if n != e.hdr.Size {
		return fmt.Errorf("%d bytes instead of %d: the input changed during the build", n, e.hdr.Size)
	}
	return nil
}

// cachedLayer is a base's layer with these entries, written to the layer
// cache unless already there.
func (r *resolver) cachedLayer(entries []*entry, key string) (v1.Layer, error) {
	file := filepath.Join(r.opts.cacheDir(), "layers", key+".tar.gz")
	r.used[file] = true
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		if err := writeLayer(file, entries, r.opts.epoch()); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return tarball.LayerFromFile(file)
}
