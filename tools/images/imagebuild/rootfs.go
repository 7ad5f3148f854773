package imagebuild

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DebianRootfs is a Debian root filesystem made by mmdebstrap from the
// given suite, variant, extra packages, hook folders, essential hooks,
// mirrors and dpkg options, without the paths Drop matches (patterns as path.Match, without the leading
// slash; a match drops everything below too) and without the symbolic links
// to them, which would be left dangling. The tarball mmdebstrap writes
// is kept in the cache, keyed on those settings, so it is made once: a
// Debian point release changes nothing until the cached tarball is removed.
type DebianRootfs struct {
	Suite    string
	Variant  string
	Packages []string
	HookDirs []string
	// EssentialHooks are shell commands mmdebstrap runs once the Essential
	// packages are in and before the others are installed, with the root
	// filesystem's folder as $1 (--essential-hook): what a Dockerfile does
	// before its `apt-get install`, such as creating a user with fixed IDs.
	EssentialHooks []string
	Mirrors        []string
	DpkgOptions    []string
	Drop           []string
}

// key identifies the tarball these settings make (Drop is applied later).
func (d DebianRootfs) key() string {
	settings := []any{d.Suite, d.Variant, d.Packages, d.HookDirs, d.Mirrors, d.DpkgOptions}
	// Only when there are any, so root filesystems made without them keep
	// their key (and their cached tarball).
	if len(d.EssentialHooks) > 0 {
		settings = append(settings, d.EssentialHooks)
	}
	data, _ := json.Marshal(settings)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16]
}

// args are mmdebstrap's arguments writing the root filesystem to target.
func (d DebianRootfs) args(target string) []string {
	args := []string{"--variant=" + d.Variant, "--include=" + strings.Join(d.Packages, ",")}
	for _, opt := range d.DpkgOptions {
		args = append(args, "--dpkgopt="+opt)
	}
	for _, dir := range d.HookDirs {
		args = append(args, "--hook-dir="+dir)
	}
	for _, hook := range d.EssentialHooks {
		args = append(args, "--essential-hook="+hook)
	}
	args = append(args, d.Suite, target)
	return append(args, d.Mirrors...)
}

func (d DebianRootfs) entries(r *resolver, _ map[string]*entry) ([]*entry, error) {
	tarball := filepath.Join(r.opts.rootfsDir(), d.key()+".tar")
	r.used[tarball] = true
	if _, err := os.Stat(tarball); errors.Is(err, fs.ErrNotExist) {
		if err := d.make(r, tarball); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	id, err := r.digests.digest(tarball)
	if err != nil {
		return nil, err
	}
	return d.read(tarball, id)
}

// make runs mmdebstrap, writing the tarball under a temporary name first.
func (d DebianRootfs) make(r *resolver, tarball string) error {
	if err := os.MkdirAll(filepath.Dir(tarball), 0o755); err != nil {
		return err
	}
	// mmdebstrap picks its output format from the name's extension.
	tmp := strings.TrimSuffix(tarball, ".tar") + ".partial.tar"
	defer os.Remove(tmp)
	fmt.Fprintf(r.opts.log(), "images: making the Debian %s root filesystem with mmdebstrap (once; kept as %s)\n", d.Suite, tarball)
	start := time.Now()
	cmd := exec.Command(r.opts.mmdebstrap(), d.args(tmp)...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(r.opts.Epoch, 10))
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mmdebstrap %s: %w\n%s", strings.Join(cmd.Args[1:], " "), err, tailLines(stderr.String(), 20))
	}
	if err := os.Rename(tmp, tarball); err != nil {
		return err
	}
	fmt.Fprintf(r.opts.log(), "images: made the Debian %s root filesystem in %s\n", d.Suite, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// read lists the tarball's entries, reading each file's content from its
// place in the tarball when the layer is written.
func (d DebianRootfs) read(tarball, id string) ([]*entry, error) {
	f, err := os.Open(tarball)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reader := tar.NewReader(f)
	var entries []*entry
	for {
		hdr, err := reader.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", tarball, err)
		}
		name := strings.TrimSuffix(imagePath(hdr.Name), "/")
		if name == "" || d.dropped(name) {
			continue
		}
		if hdr.Typeflag == tar.TypeSymlink && d.dropped(linkTarget(name, hdr.Linkname)) {
			continue
		}
		// archive/tar reads no further than the header, so this is where
		// the content starts.
		offset, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		e := &entry{hdr: tar.Header{
			Typeflag: hdr.Typeflag, Name: name, Linkname: hdr.Linkname, Size: hdr.Size, Mode: hdr.Mode,
			Uid: hdr.Uid, Gid: hdr.Gid, Devmajor: hdr.Devmajor, Devminor: hdr.Devminor,
		}}
		for k, v := range hdr.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				if e.hdr.PAXRecords == nil {
					e.hdr.PAXRecords = map[string]string{}
				}
				e.hdr.PAXRecords[k] = v
			}
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			size := hdr.Size
			e.open = func() (io.ReadCloser, error) {
				f, err := os.Open(tarball)
				if err != nil {
					return nil, err
				}
				return struct {
					io.Reader
					io.Closer
				}{io.NewSectionReader(f, offset, size), f}, nil
			}
			e.id = id + "@" + strconv.FormatInt(offset, 10)
		case tar.TypeLink:
			e.hdr.Linkname = imagePath(hdr.Linkname)
		case tar.TypeDir, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		default:
			return nil, fmt.Errorf("%s: %s has unsupported type %q", tarball, hdr.Name, hdr.Typeflag)
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s holds no files", tarball)
	}
	return entries, nil
}

// dropped tells whether name or a folder above it matches a Drop pattern.
func (d DebianRootfs) dropped(name string) bool {
	for p := name; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		for _, pattern := range d.Drop {
			if ok, _ := path.Match(pattern, p); ok {
				return true
			}
		}
	}
	return false
}

// linkTarget is the path a symbolic link at name points to, relative to the
// root like name (one step: links along the way are not followed).
func linkTarget(name, target string) string {
	if path.IsAbs(target) {
		return imagePath(target)
	}
	return imagePath(path.Join(path.Dir(name), target))
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
