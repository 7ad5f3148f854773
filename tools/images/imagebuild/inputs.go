package imagebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"unicode"
)

// resolver finds the input files of the specs and their digests.
type resolver struct {
	opts    *Options
	digests *digestCache
	// used are the cache files this build uses; prune keeps only those.
	used map[string]bool
	// bases are the bases' layers, resolved once.
	bases map[*Base]baseLayer
}

// locate returns where s is on this machine, or an error naming the missing
// file and how to get it.
func (r *resolver) locate(s Source) (string, error) {
	var p string
	switch s.root {
	case rootBin:
		p = filepath.Join(r.opts.BinDir, s.path)
	case rootModule:
		dir, err := r.moduleDir(s.module)
		if err != nil {
			return "", err
		}
		p = filepath.Join(dir, s.path)
	case rootHost:
		p = filepath.Join(r.opts.HostRoot, s.path)
	case rootRepo:
		p = filepath.Join(r.opts.RepoDir, s.path)
	default:
		return "", fmt.Errorf("input %q has no root", s.path)
	}
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", r.missing(s, p)
		}
		return "", err
	}
	return p, nil
}

func (r *resolver) missing(s Source, p string) error {
	switch s.root {
	case rootBin:
		return fmt.Errorf("%s is missing: run `make tools` to build it", p)
	case rootModule:
		return fmt.Errorf("%s is missing: run `go mod download %s`", p, s.module)
	case rootHost:
		return fmt.Errorf("%s is missing: install the Debian package %s (apt-get install %s)", p, s.debPkgs, s.debPkgs)
	default:
		return fmt.Errorf("%s is missing from this repository", p)
	}
}

// moduleDir is where the module cache holds module (path@version),
// downloaded through the go command first when missing and GoCommand is set.
func (r *resolver) moduleDir(module string) (string, error) {
	dir := filepath.Join(r.opts.ModCache, escapeModule(module))
	if _, err := os.Stat(dir); err == nil || r.opts.GoCommand == "" {
		return dir, nil
	}
	cmd := exec.Command(r.opts.GoCommand, "mod", "download", "-json", module)
	// Outside any module, so no go.mod is read or changed; never let the
	// go command fetch another toolchain for it.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	var downloaded struct{ Dir, Error string }
	if jsonErr := json.Unmarshal(out, &downloaded); jsonErr == nil && downloaded.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", module, downloaded.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w", module, err)
	}
	if downloaded.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no folder in its output", module)
	}
	return downloaded.Dir, nil
}

// escapeModule is a module path@version as the module cache spells it:
// capitals as '!' and the lower-case letter.
func escapeModule(module string) string {
	var b strings.Builder
	for _, c := range module {
		if unicode.IsUpper(c) {
			b.WriteByte('!')
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}

// digestCache remembers the SHA-256 of input files by path, size,
// modification and change time and inode, the way git's index does, so an
// unchanged input is not read again: a second build only stats its inputs.
type digestCache struct {
	path  string
	mu    sync.Mutex
	files map[string]digestRecord
	dirty bool
}

type digestRecord struct {
	Size   int64  `json:"size"`
	Mtime  int64  `json:"mtime"`
	Ctime  int64  `json:"ctime"`
	Inode  uint64 `json:"inode"`
	SHA256 string `json:"sha256"`
}

func loadDigestCache(path string) *digestCache {
	c := &digestCache{path: path, files: map[string]digestRecord{}}
	if data, err := os.ReadFile(path); err == nil {
		// A damaged cache is only slower: every input is read again.
		_ = json.Unmarshal(data, &c.files)
	}
	return c
}

// digest is "sha256:<hex>" of the regular file at path.
func (c *digestCache) digest(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	want := digestRecord{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		want.Ctime = st.Ctim.Nano()
		want.Inode = st.Ino
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	have, ok := c.files[abs]
	c.mu.Unlock()
	if ok && have.SHA256 != "" && have.Size == want.Size && have.Mtime == want.Mtime &&
		have.Ctime == want.Ctime && have.Inode == want.Inode {
		return "sha256:" + have.SHA256, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	want.SHA256 = hex.EncodeToString(h.Sum(nil))
	c.mu.Lock()
	c.files[abs] = want
	c.dirty = true
	c.mu.Unlock()
	return "sha256:" + want.SHA256, nil
}

// save writes the cache back when it learnt something.
func (c *digestCache) save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	data, err := json.Marshal(c.files)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return err
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, c.path)
}
