package imagebuild

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
)

// Contents is something a layer holds: a file, a folder, a tree, a root
// filesystem. below is what the layers underneath hold, by path.
type Contents interface {
	entries(r *resolver, below map[string]*entry) ([]*entry, error)
}

// entry is one file of a layer.
type entry struct {
	hdr tar.Header // Name is the image path without its leading slash
	// open reads a regular file's content.
	open func() (io.ReadCloser, error)
	// id identifies the content for cache keys: a digest, or the digest of
	// the tarball it is read from and its offset there.
	id string
}

// capNetBindService is the security.capability attribute `setcap
// cap_net_bind_service=+ep` writes: struct vfs_cap_data, revision 2, the
// effective flag, CAP_NET_BIND_SERVICE (10) permitted.
const capNetBindService = "\x01\x00\x00\x02" + "\x00\x04\x00\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// File is one regular file copied from From with its own mode and owner.
type File struct {
	Path     string
	From     Source
	Mode     int64
	UID, GID int
	// Capabilities is the raw security.capability attribute, if any.
	Capabilities string
}

func (f File) entries(r *resolver, _ map[string]*entry) ([]*entry, error) {
	src, err := r.locate(f.From)
	if err != nil {
		return nil, err
	}
	e, err := r.fileEntry(f.Path, src, f.Mode, f.UID, f.GID)
	if err != nil {
		return nil, err
	}
	if f.Capabilities != "" {
		e.hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": f.Capabilities}
	}
	return []*entry{e}, nil
}

// fileEntry is the regular file at src (symbolic links followed) as name.
func (r *resolver) fileEntry(name, src string, mode int64, uid, gid int) (*entry, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", src)
	}
	id, err := r.digests.digest(src)
	if err != nil {
		return nil, err
	}
	return &entry{
		hdr:  tar.Header{Typeflag: tar.TypeReg, Name: imagePath(name), Size: fi.Size(), Mode: mode, Uid: uid, Gid: gid},
		open: func() (io.ReadCloser, error) { return os.Open(src) },
		id:   id,
	}, nil
}

// Dir is a folder.
type Dir struct {
	Path     string
	Mode     int64
	UID, GID int
}

func (d Dir) entries(*resolver, map[string]*entry) ([]*entry, error) {
	return []*entry{dirEntry(d.Path, d.Mode, d.UID, d.GID)}, nil
}

func dirEntry(name string, mode int64, uid, gid int) *entry {
	return &entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: imagePath(name), Mode: mode, Uid: uid, Gid: gid}}
}

// Symlink is a symbolic link owned by root.
type Symlink struct {
	Path   string
	Target string
}

func (s Symlink) entries(*resolver, map[string]*entry) ([]*entry, error) {
	return []*entry{{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: imagePath(s.Path), Linkname: s.Target, Mode: 0o777}}}, nil
}

// Text is a regular file with the given content, owned by root.
type Text struct {
	Path string
	Mode int64
	Data string
}

func (t Text) entries(*resolver, map[string]*entry) ([]*entry, error) {
	return []*entry{dataEntry(t.Path, t.Mode, 0, 0, []byte(t.Data))}, nil
}

func dataEntry(name string, mode int64, uid, gid int, data []byte) *entry {
	sum := sha256.Sum256(data)
	return &entry{
		hdr:  tar.Header{Typeflag: tar.TypeReg, Name: imagePath(name), Size: int64(len(data)), Mode: mode, Uid: uid, Gid: gid},
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		id:   "sha256:" + hex.EncodeToString(sum[:]),
	}
}

// Tree is a folder of this machine copied whole as Path, with its modes and
// symbolic links, owned by root (as `cp -a` by root copies a Debian
// package's files).
type Tree struct {
	Path string
	From Source
}

func (t Tree) entries(r *resolver, _ map[string]*entry) ([]*entry, error) {
	root, err := r.locate(t.From)
	if err != nil {
		return nil, err
	}
	var entries []*entry
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		e, err := r.hostEntry(path.Join(t.Path, filepath.ToSlash(rel)), p, false)
		if err != nil || e == nil {
			return err
		}
		entries = append(entries, e)
		return nil
	})
	return entries, err
}

// hostEntry is the file, folder or symbolic link at p as name, with its
// mode, and its owner when keepOwner (else root); nil for other types.
func (r *resolver) hostEntry(name, p string, keepOwner bool) (*entry, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	uid, gid := 0, 0
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && keepOwner {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	mode := tarMode(fi.Mode())
	switch {
	case fi.Mode().IsRegular():
		return r.fileEntry(name, p, mode, uid, gid)
	case fi.IsDir():
		return dirEntry(name, mode, uid, gid), nil
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return nil, err
		}
		return &entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: imagePath(name), Linkname: target, Mode: 0o777, Uid: uid, Gid: gid}}, nil
	default:
		return nil, nil
	}
}

// tarMode is a file mode as tar's permission and setuid, setgid and sticky
// bits.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// Glob is the files of a folder matching Pattern (but not Exclude), copied
// into Dir with one mode and owner; Require names files that must be there.
type Glob struct {
	Dir      string
	From     Source
	Pattern  string
	Exclude  string
	Require  []string
	Mode     int64
	UID, GID int
}

func (g Glob) entries(r *resolver, _ map[string]*entry) ([]*entry, error) {
	dir, err := r.locate(g.From)
	if err != nil {
		return nil, err
	}
	for _, name := range g.Require {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return nil, r.missing(g.From, filepath.Join(dir, name))
		}
	}
	matches, err := filepath.Glob(filepath.Join(dir, g.Pattern))
	if err != nil {
		return nil, err
	}
	var entries []*entry
	for _, m := range matches {
		base := filepath.Base(m)
		if excluded, _ := filepath.Match(g.Exclude, base); g.Exclude != "" && excluded {
			continue
		}
		e, err := r.fileEntry(path.Join(g.Dir, base), m, g.Mode, g.UID, g.GID)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no %s in %s", g.Pattern, dir)
	}
	return entries, nil
}

// BusyboxApplets is the busybox binary in Dir and, as `busybox --install
// Dir` makes them, a hard link to it in Dir for every applet `busybox
// --list` names.
type BusyboxApplets struct {
	Binary Source
	Dir    string
}

func (b BusyboxApplets) entries(r *resolver, _ map[string]*entry) ([]*entry, error) {
	bin, err := r.locate(b.Binary)
	if err != nil {
		return nil, err
	}
	busybox, err := r.fileEntry(path.Join(b.Dir, "busybox"), bin, 0o755, 0, 0)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", bin, err)
	}
	entries := []*entry{busybox}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		entries = append(entries, &entry{hdr: tar.Header{
			Typeflag: tar.TypeLink, Name: imagePath(path.Join(b.Dir, applet)), Linkname: busybox.hdr.Name, Mode: 0o755,
		}})
	}
	if len(entries) == 1 {
		return nil, fmt.Errorf("%s --list named no applets", bin)
	}
	return entries, nil
}

// CABundle is the certificate bundle update-ca-certificates makes from a
// folder of a Debian package's certificates (every *.crt, in name order,
// each ending in a newline), as a file readable by all. Only the package's
// certificates go in: local additions to this machine's own bundle do not.
type CABundle struct {
	Path string
	From Source
}

func (c CABundle) entries(r *resolver, _ map[string]*entry) ([]*entry, error) {
	dir, err := r.locate(c.From)
	if err != nil {
		return nil, err
	}
	certs, err := filepath.Glob(filepath.Join(dir, "*.crt"))
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no certificates (*.crt) in %s", dir)
	}
	sort.Strings(certs)
	var bundle bytes.Buffer
	for _, cert := range certs {
		data, err := os.ReadFile(cert)
		if err != nil {
			return nil, err
		}
		bundle.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			bundle.WriteByte('\n')
		}
	}
	return []*entry{dataEntry(c.Path, 0o644, 0, 0, bundle.Bytes())}, nil
}

// DebianPackage is the files a Debian package installed on this machine
// (as dpkg lists them), with their modes and owners here. Files the package
// lists but this machine lacks (documentation dpkg was told to leave out)
// are left out.
type DebianPackage struct {
	Name string
}

func (d DebianPackage) entries(r *resolver, _ map[string]*entry) ([]*entry, error) {
	info := filepath.Join(r.opts.HostRoot, "var/lib/dpkg/info")
	list, err := os.Open(filepath.Join(info, d.Name+".list"))
	if errors.Is(err, fs.ErrNotExist) {
		list, err = os.Open(filepath.Join(info, d.Name+":"+runtime.GOARCH+".list"))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the Debian package %s is not installed: apt-get install %s", d.Name, d.Name)
	}
	if err != nil {
		return nil, err
	}
	defer list.Close()
	var entries []*entry
	scanner := bufio.NewScanner(list)
	for scanner.Scan() {
		p := scanner.Text()
		if p == "/." || p == "" {
			continue
		}
		e, err := r.hostEntry(p, filepath.Join(r.opts.HostRoot, p), true)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("Debian package %s: %w", d.Name, err)
		}
		if e != nil {
			entries = append(entries, e)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	return entries, nil
}

// AppendLines is a file of the layers below with lines added at its end, as
// `RUN echo ... >> file` leaves it.
type AppendLines struct {
	Path  string
	Lines []string
}

func (a AppendLines) entries(_ *resolver, below map[string]*entry) ([]*entry, error) {
	old, ok := below[imagePath(a.Path)]
	if !ok || old.hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%s: no such file in the base image", a.Path)
	}
	rc, err := old.open()
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s of the base image: %w", a.Path, err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	for _, line := range a.Lines {
		data = append(data, line...)
		data = append(data, '\n')
	}
	return []*entry{dataEntry(a.Path, old.hdr.Mode, old.hdr.Uid, old.hdr.Gid, data)}, nil
}

// imagePath is an absolute image path as a layer's entry name.
func imagePath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}
