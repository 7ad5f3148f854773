package imagebuild

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	pathEnv       = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	sslCertEnv    = "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
	standInBundle = "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n"
)

// want is one file an image must hold (after its layers are flattened).
type want struct {
	typ      byte
	mode     int64
	uid, gid int
	link     string // symbolic or hard link target
	content  string // regular files: exact content, when not ""
	contains string // regular files: part of the content
}

func reg(mode int64, uid, gid int) want {
	return want{typ: tar.TypeReg, mode: mode, uid: uid, gid: gid}
}
func dir(mode int64, uid, gid int) want {
	return want{typ: tar.TypeDir, mode: mode, uid: uid, gid: gid}
}
func symlink(target string) want        { return want{typ: tar.TypeSymlink, mode: 0o777, link: target} }
func hardlink(target string) want       { return want{typ: tar.TypeLink, mode: 0o755, link: target} }
func (w want) with(content string) want { w.content = content; return w }
func (w want) has(part string) want     { w.contains = part; return w }

// busyboxFiles and distrolessFiles are what every image on these bases holds.
var (
	busyboxFiles = map[string]want{
		"bin":                               dir(0o755, 0, 0),
		"bin/busybox":                       reg(0o755, 0, 0),
		"bin/sh":                            hardlink("bin/busybox"),
		"bin/[[":                            hardlink("bin/busybox"),
		"bin/env":                           hardlink("bin/busybox"),
		"usr/bin/env":                       symlink("../../bin/env"),
		"etc/passwd":                        reg(0o644, 0, 0).has("nobody:x:65534:65534:nobody:/home:/bin/false\n"),
		"etc/group":                         reg(0o644, 0, 0).has("\nnobody:x:65534:\n"),
		"etc/shadow":                        reg(0o600, 0, 0).has("root:*:"),
		"tmp":                               dir(0o1777, 0, 0),
		"root":                              dir(0o700, 0, 0),
		"home":                              dir(0o755, 65534, 65534),
		"var/www":                           dir(0o755, 33, 33),
		"var/spool/mail":                    dir(0o755, 8, 8),
		"usr/sbin":                          dir(0o755, 1, 1),
		"lib":                               dir(0o755, 0, 0),
		"etc/localtime":                     reg(0o644, 0, 0).with("TZif2 UTC\n"),
		"etc/nsswitch.conf":                 reg(0o644, 0, 0).with("passwd: files\n"),
		"etc/services":                      reg(0o644, 0, 0).with("http 80/tcp\n"),
		"etc/ssl/certs/ca-certificates.crt": reg(0o644, 0, 0).with(standInBundle),
		"usr/share/zoneinfo/UTC":            symlink("Etc/UTC"),
		"usr/share/zoneinfo/Europe/Paris":   reg(0o644, 0, 0).with("TZif2 Paris\n"),
		"usr/share/zoneinfo/Etc":            dir(0o755, 0, 0),
		"etc/ssl":                           dir(0o755, 0, 0),
		"usr/share/zoneinfo/Etc/UTC":        reg(0o644, 0, 0),
		"usr/share/zoneinfo/Europe":         dir(0o755, 0, 0),
		"usr/share":                         dir(0o755, 0, 0),
		"etc/ssl/certs":                     dir(0o755, 0, 0),
		"usr/share/zoneinfo":                dir(0o755, 0, 0),
		"usr/bin":                           dir(0o755, 0, 0),
		"usr":                               dir(0o755, 0, 0),
		"etc":                               dir(0o755, 0, 0),
		"dev":                               dir(0o755, 0, 0),
		"var":                               dir(0o755, 0, 0),
		"var/spool":                         dir(0o755, 0, 0),
		"bin/ls":                            hardlink("bin/busybox"),
		"bin/[":                             hardlink("bin/busybox"),
	}
	distrolessFiles = map[string]want{
		"etc/passwd":                        reg(0o644, 0, 0).with("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"),
		"etc/group":                         reg(0o644, 0, 0).with("root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"),
		"home":                              dir(0o755, 0, 0),
		"home/nonroot":                      dir(0o700, 65532, 65532),
		"root":                              dir(0o700, 0, 0),
		"tmp":                               dir(0o1777, 0, 0),
		"etc/nsswitch.conf":                 reg(0o644, 0, 0).has("\nhosts:          files dns\n"),
		"etc/os-release":                    reg(0o644, 0, 0).has("PRETTY_NAME=\"Distroless\"\n"),
		"etc/debian_version":                reg(0o644, uid(), gid()).with("12.11\n"),
		"usr/lib/os-release":                reg(0o644, uid(), gid()),
		"etc/services":                      reg(0o644, uid(), gid()),
		"usr/share/zoneinfo/UTC":            {typ: tar.TypeSymlink, mode: 0o777, link: "Etc/UTC", uid: uid(), gid: gid()},
		"usr/share/zoneinfo/Europe/Paris":   reg(0o644, uid(), gid()).with("TZif2 Paris\n"),
		"etc/ssl/certs/ca-certificates.crt": reg(0o644, 0, 0).with(standInBundle),
	}
)

// uid and gid own the stand-in Debian files (whoever runs the tests).
func uid() int { return os.Getuid() }
func gid() int { return os.Getgid() }

func merge(maps ...map[string]want) map[string]want {
	out := map[string]want{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestImages(t *testing.T) {
	env := newTestEnv(t)
	env.opts.Epoch = 1700000000
	results, err := Build(env.opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(Specs(env.opts.Versions)) {
		t.Fatalf("built %d images, want %d", len(results), len(Specs(env.opts.Versions)))
	}
	prometheusLabels := map[string]string{
		"maintainer":                      "The Prometheus Authors <prometheus-developers@googlegroups.com>",
		"org.opencontainers.image.source": "https://github.com/prometheus/prometheus",
	}
	alertmanagerLabels := map[string]string{
		"maintainer":                      "The Prometheus Authors <prometheus-developers@googlegroups.com>",
		"org.opencontainers.image.source": "https://github.com/prometheus/alertmanager",
	}
	tests := []struct {
		name, ref string
		layers    int
		config    v1.Config
		files     map[string]want
		absent    []string
		only      bool // the image holds files only
	}{
		{
			name: "prometheus", ref: "prom/prometheus:v3.5.0", layers: 2,
			config: v1.Config{
				User: "nobody", WorkingDir: "/prometheus", Env: []string{pathEnv},
				Entrypoint:   []string{"/bin/prometheus"},
				Cmd:          []string{"--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"},
				ExposedPorts: map[string]struct{}{"9090/tcp": {}}, Volumes: map[string]struct{}{"/prometheus": {}},
				Labels: prometheusLabels,
			},
			files: merge(busyboxFiles, map[string]want{
				"bin/prometheus":                    reg(0o755, 0, 0).with("#!/bin/sh\necho stand-in prometheus\n"),
				"bin/promtool":                      reg(0o755, 0, 0).with("#!/bin/sh\necho stand-in promtool\n"),
				"etc/prometheus":                    dir(0o755, 65534, 65534),
				"etc/prometheus/prometheus.yml":     reg(0o644, 65534, 65534).with("global:\n  scrape_interval: 15s\n"),
				"LICENSE":                           reg(0o644, 0, 0).with("Apache License\n"),
				"NOTICE":                            reg(0o644, 0, 0),
				"prometheus":                        dir(0o775, 65534, 65534),
				"etc/ssl/certs/ca-certificates.crt": reg(0o644, 0, 0).with(standInBundle),
			}),
		},
		{
			name: "alertmanager", ref: "prom/alertmanager:v0.28.1", layers: 2,
			config: v1.Config{
				User: "nobody", WorkingDir: "/alertmanager", Env: []string{pathEnv},
				Entrypoint:   []string{"/bin/alertmanager"},
				Cmd:          []string{"--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"},
				ExposedPorts: map[string]struct{}{"9093/tcp": {}}, Volumes: map[string]struct{}{"/alertmanager": {}},
				Labels: alertmanagerLabels,
			},
			files: merge(busyboxFiles, map[string]want{
				"bin/alertmanager":                  reg(0o755, 0, 0),
				"bin/amtool":                        reg(0o755, 0, 0),
				"etc/alertmanager":                  dir(0o755, 65534, 65534),
				"etc/alertmanager/alertmanager.yml": reg(0o644, 65534, 65534).with("route:\n  receiver: web.hook\n"),
				"alertmanager":                      dir(0o755, 65534, 65534),
			}),
		},
		{
			name: "kube-state-metrics", ref: "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0", layers: 2,
			config: v1.Config{
				User: "nobody", WorkingDir: "/", Env: []string{pathEnv, sslCertEnv},
				Entrypoint:   []string{"/kube-state-metrics", "--port=8080", "--telemetry-port=8081"},
				ExposedPorts: map[string]struct{}{"8080/tcp": {}, "8081/tcp": {}},
			},
			files: merge(distrolessFiles, map[string]want{"kube-state-metrics": reg(0o755, 0, 0)}),
		},
		{
			name: "prometheus-adapter", ref: "registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0", layers: 2,
			config: v1.Config{User: "65534", WorkingDir: "/", Env: []string{pathEnv, sslCertEnv}, Entrypoint: []string{"/adapter"}},
			files:  merge(distrolessFiles, map[string]want{"adapter": reg(0o755, 0, 0).with("#!/bin/sh\necho stand-in adapter\n")}),
		},
		{
			name: "metrics-server", ref: "registry.k8s.io/metrics-server/metrics-server:v0.8.0", layers: 2,
			config: v1.Config{User: "65534", WorkingDir: "/", Env: []string{pathEnv, sslCertEnv}, Entrypoint: []string{"/metrics-server"}},
			files:  merge(distrolessFiles, map[string]want{"metrics-server": reg(0o755, 0, 0)}),
		},
		{
			name: "coredns", ref: "registry.k8s.io/coredns/coredns:v1.12.1", layers: 2,
			config: v1.Config{
				User: "65532:65532", WorkingDir: "/", Env: []string{pathEnv, sslCertEnv}, Entrypoint: []string{"/coredns"},
				ExposedPorts: map[string]struct{}{"53/tcp": {}, "53/udp": {}},
			},
			files: merge(distrolessFiles, map[string]want{"coredns": reg(0o755, 0, 0)}),
		},
		{
			name: "pause", ref: "registry.k8s.io/pause:3.10", layers: 1,
			config: v1.Config{User: "65535:65535", WorkingDir: "/", Env: []string{pathEnv}, Entrypoint: []string{"/pause"}},
			files:  map[string]want{"pause": reg(0o755, 0, 0).with("#!/bin/sh\necho stand-in pause\n")},
			only:   true,
		},
		{
			name: "nexios-example-app", ref: "ghcr.io/nexios-labs/nexios-example-app:0.1.0", layers: 2,
			config: v1.Config{
				User: "10001:10001", WorkingDir: "/app",
				Env:          []string{pathEnv, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "PORT=8000"},
				Entrypoint:   []string{"python3", "/app/run.py"},
				ExposedPorts: map[string]struct{}{"8000/tcp": {}},
			},
			files: map[string]want{
				"app":                dir(0o755, 0, 0),
				"app/run.py":         reg(0o444, 0, 0).with("import app\n"),
				"app/app.py":         reg(0o444, 0, 0).with("print('app')\n"),
				"etc/passwd":         reg(0o644, 0, 0).with("root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nnexios:x:10001:10001:nexios example app:/nonexistent:/usr/sbin/nologin\n"),
				"etc/group":          reg(0o644, 0, 0).with("root:x:0:\nnogroup:x:65534:\nnexios:x:10001:\n"),
				"bin":                symlink("usr/bin"),
				"usr/bin/python3":    symlink("python3.11"),
				"usr/bin/python3.11": reg(0o755, 0, 0),
				"usr/bin/perl5.36.0": hardlink("usr/bin/python3.11"),
				"dev":                dir(0o755, 0, 0),
				"var/lib/apt/lists":  dir(0o755, 0, 0),
			},
			absent: []string{"app/test_app.py", "app/README.md", "dev/null", "etc/hostname", "var/lib/apt/lists/lock", "var/lib/dpkg/status-old", "."},
		},
		{
			name: "nexios-postgres", ref: "ghcr.io/nexios-labs/nexios-postgres:15", layers: 2,
			config: v1.Config{
				User: "999:999",
				Env: []string{pathEnv + ":/usr/lib/postgresql/15/bin", "PG_MAJOR=15", "LANG=C.UTF-8",
					"PGDATA=/var/lib/postgresql/data/pgdata"},
				Entrypoint:   []string{"docker-entrypoint.sh"},
				Cmd:          []string{"postgres"},
				ExposedPorts: map[string]struct{}{"5432/tcp": {}},
				Volumes:      map[string]struct{}{"/var/lib/postgresql/data": {}},
				StopSignal:   "SIGINT",
			},
			files: map[string]want{
				"usr/local/bin/docker-entrypoint.sh": reg(0o755, 0, 0).with("#!/usr/bin/env bash\nexec \"$@\"\n"),
				"var/lib/postgresql":                 dir(0o1777, 999, 999),
				"var/lib/postgresql/data":            dir(0o1777, 999, 999),
				"run/postgresql":                     dir(0o3777, 999, 999),
				"usr/share/postgresql/15/postgresql.conf.sample": reg(0o644, 0, 0).
					with("#listen_addresses = 'localhost'\nlisten_addresses = '*'\n"),
				"usr/bin/python3.11": reg(0o755, 0, 0),
				// The backups' curl and CA certificates, with their links.
				"usr/bin/curl":                      reg(0o755, 0, 0),
				"etc/ssl/certs/ca-certificates.crt": reg(0o644, 0, 0).with("A ROOT CERTIFICATE\n"),
				"etc/ssl/certs/A_Root.pem":          symlink("/usr/share/ca-certificates/mozilla/A_Root.crt"),
				"etc/ssl/certs/3513523f.0":          symlink("A_Root.pem"),
				// Its folder stays (a link points to it); the key goes.
				"etc/ssl/private":     dir(0o710, 0, 0),
				"usr/lib/ssl/private": symlink("/etc/ssl/private"),
			},
			absent: []string{"var/lib/postgresql/15", "var/lib/postgresql/15/main",
				"etc/ssl/private/ssl-cert-snakeoil.key", "etc/ssl/certs/ssl-cert-snakeoil.pem", "etc/ssl/certs/62742064.0",
				"dev/null", "etc/hostname"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(env.opts.OutDir, tt.name+".tar")
			manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
			if err != nil {
				t.Fatal(err)
			}
			if len(manifest) != 1 || !reflect.DeepEqual(manifest[0].RepoTags, []string{tt.ref}) {
				t.Fatalf("manifest.json RepoTags: %+v, want [%s]", manifest, tt.ref)
			}
			img, err := tarball.ImageFromPath(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Config, tt.config) {
				t.Errorf("config:\n got %+v\nwant %+v", cfg.Config, tt.config)
			}
			if cfg.OS != "linux" || cfg.Architecture == "" || !cfg.Created.Time.Equal(time.Unix(1700000000, 0)) {
				t.Errorf("os %q, architecture %q, created %v", cfg.OS, cfg.Architecture, cfg.Created)
			}
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			if len(layers) != tt.layers || len(cfg.History) != tt.layers {
				t.Errorf("%d layers and %d history entries, want %d", len(layers), len(cfg.History), tt.layers)
			}
			files := flatten(t, img)
			for name, w := range tt.files {
				f, ok := files[name]
				if !ok {
					t.Errorf("%s: missing", name)
					continue
				}
				checkFile(t, name, f, w)
			}
			for _, name := range tt.absent {
				if _, ok := files[name]; ok {
					t.Errorf("%s: present, want absent", name)
				}
			}
			if tt.only && len(files) != len(tt.files) {
				t.Errorf("files %v, want only %d", keys(files), len(tt.files))
			}
			for name, f := range files {
				if !f.hdr.ModTime.Equal(time.Unix(1700000000, 0)) || f.hdr.Uname != "" || f.hdr.Gname != "" {
					t.Errorf("%s: modified %v, owner names %q:%q; want the epoch and numbers only", name, f.hdr.ModTime, f.hdr.Uname, f.hdr.Gname)
				}
			}
		})
	}

	t.Run("PostgreSQL's packages", func(t *testing.T) {
		// The image's root filesystem is the only one with PostgreSQL; the
		// backup job of its image needs curl and the CA certificates.
		var postgres []string
		for _, args := range env.invocations(t) {
			for _, arg := range strings.Fields(args) {
				if packages, ok := strings.CutPrefix(arg, "--include="); ok && strings.Contains(","+packages+",", ",postgresql-15,") {
					postgres = append(postgres, packages)
				}
			}
		}
		if len(postgres) != 1 {
			t.Fatalf("mmdebstrap made %d root filesystems with postgresql-15 (%v), want 1", len(postgres), postgres)
		}
		for _, want := range []string{"postgresql-client-15", "curl", "ca-certificates"} {
			if !strings.Contains(","+postgres[0]+",", ","+want+",") {
				t.Errorf("PostgreSQL's root filesystem: --include=%s, want %s in it", postgres[0], want)
			}
		}
	})

	t.Run("coredns can bind port 53", func(t *testing.T) {
		img, err := tarball.ImageFromPath(filepath.Join(env.opts.OutDir, "coredns.tar"), nil)
		if err != nil {
			t.Fatal(err)
		}
		f := flatten(t, img)["coredns"]
		if got := f.hdr.PAXRecords["SCHILY.xattr.security.capability"]; got != capNetBindService {
			t.Errorf("security.capability %q, want cap_net_bind_service=+ep", got)
		}
	})
}

type file struct {
	hdr     tar.Header
	content string
}

// flatten is the image's file system, as mutate.Extract flattens its layers.
func flatten(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]file{}
	reader := tar.NewReader(rc)
	for {
		hdr, err := reader.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(reader)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(hdr.Name, "/")] = file{hdr: *hdr, content: string(data)}
	}
}

func checkFile(t *testing.T, name string, f file, w want) {
	t.Helper()
	h := f.hdr
	if h.Typeflag != w.typ || h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.gid || h.Linkname != w.link {
		t.Errorf("%s: type %q mode %o owner %d:%d link %q; want type %q mode %o owner %d:%d link %q",
			name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, w.typ, w.mode, w.uid, w.gid, w.link)
	}
	if w.content != "" && f.content != w.content {
		t.Errorf("%s: content %q, want %q", name, f.content, w.content)
	}
	if w.contains != "" && !strings.Contains(f.content, w.contains) {
		t.Errorf("%s: content %q lacks %q", name, f.content, w.contains)
	}
}

func keys(files map[string]file) []string {
	var out []string
	for k := range files {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestDeterministic builds everything twice from nothing, in two folders:
// every image must come out byte for byte the same.
func TestDeterministic(t *testing.T) {
	env := newTestEnv(t)
	first, err := Build(env.opts)
	if err != nil {
		t.Fatal(err)
	}
	env.opts.OutDir = filepath.Join(env.dir, "again")
	second, err := Build(env.opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		a, b := first[i], second[i]
		if !a.Built || !b.Built {
			t.Fatalf("%s: built %v then %v, want built twice", a.Name, a.Built, b.Built)
		}
		if a.ImageID != b.ImageID || a.Digest != b.Digest {
			t.Errorf("%s: id %s digest %s, then id %s digest %s", a.Name, a.ImageID, a.Digest, b.ImageID, b.Digest)
		}
		da, err := os.ReadFile(a.Tarball)
		if err != nil {
			t.Fatal(err)
		}
		db, err := os.ReadFile(b.Tarball)
		if err != nil {
			t.Fatal(err)
		}
		if string(da) != string(db) {
			t.Errorf("%s: the two tarballs differ", a.Name)
		}
	}
}

// TestCache: a second build rebuilds nothing, makes the root filesystem
// once; a changed input rebuilds only the images holding it; a touched but
// unchanged input rebuilds nothing.
func TestCache(t *testing.T) {
	env := newTestEnv(t)
	if _, err := Build(env.opts); err != nil {
		t.Fatal(err)
	}
	built := func() []string {
		t.Helper()
		results, err := Build(env.opts)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range results {
			if r.Built {
				names = append(names, r.Name)
			}
		}
		return names
	}
	if got := built(); len(got) != 0 {
		t.Errorf("second build rebuilt %v, want nothing", got)
	}
	if runs := env.runs(t); runs != 2 {
		t.Errorf("mmdebstrap ran %d times, want twice (the app's and PostgreSQL's root filesystems)", runs)
	}

	env.write(t, "bin/upstream/adapter", 0o755, "#!/bin/sh\necho a new adapter\n")
	if got := built(); !reflect.DeepEqual(got, []string{"prometheus-adapter"}) {
		t.Errorf("after a new adapter, rebuilt %v, want [prometheus-adapter]", got)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(env.dir, "bin/upstream/prometheus"), later, later); err != nil {
		t.Fatal(err)
	}
	if got := built(); len(got) != 0 {
		t.Errorf("after touching bin/upstream/prometheus, rebuilt %v, want nothing", got)
	}
	env.write(t, "host/usr/share/zoneinfo/Europe/Paris", 0o644, "TZif2 Paris, new rules\n")
	if got := built(); !reflect.DeepEqual(got, []string{"prometheus", "alertmanager", "kube-state-metrics", "prometheus-adapter", "metrics-server", "coredns"}) {
		t.Errorf("after new time zone data, rebuilt %v, want the busybox and distroless images", got)
	}
	env.write(t, "repo/examples/app/app.py", 0o644, "print('app, changed')\n")
	if got := built(); !reflect.DeepEqual(got, []string{"nexios-example-app"}) {
		t.Errorf("after changing the app, rebuilt %v, want [nexios-example-app]", got)
	}
	if runs := env.runs(t); runs != 2 {
		t.Errorf("mmdebstrap ran %d times, want twice (the app's and PostgreSQL's root filesystems)", runs)
	}

	// Only the layers in use stay in the cache.
	layers, err := filepath.Glob(filepath.Join(env.opts.OutDir, ".cache", "layers", "*"))
	if err != nil {
		t.Fatal(err)
	}
	// The busybox, distroless and two Debian bases'; images' own layers are
	// only in their tarballs.
	if want := 4; len(layers) != want {
		t.Errorf("%d cached layers, want %d", len(layers), want)
	}
	if work, _ := filepath.Glob(filepath.Join(env.opts.OutDir, ".cache", "work", "*")); len(work) != 0 {
		t.Errorf("left behind %v", work)
	}
}

func TestMissingInput(t *testing.T) {
	env := newTestEnv(t)
	missing := filepath.Join(env.opts.BinDir, "upstream", "prometheus")
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}
	results, err := Build(env.opts)
	if err == nil {
		t.Fatal("built without bin/upstream/prometheus")
	}
	for _, part := range []string{"image prometheus (prom/prometheus:v3.5.0)", missing, "run `make tools`"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %q", err, part)
		}
	}
	if len(results) != len(Specs(env.opts.Versions))-1 {
		t.Errorf("built %d images, want every other one", len(results))
	}

	env = newTestEnv(t)
	if err := os.RemoveAll(filepath.Join(env.opts.ModCache, "github.com/prometheus/alertmanager@v0.28.1")); err != nil {
		t.Fatal(err)
	}
	env.opts.Only = "alertmanager"
	if _, err := Build(env.opts); err == nil || !strings.Contains(err.Error(), "go mod download github.com/prometheus/alertmanager@v0.28.1") {
		t.Errorf("error %v, want how to download the module", err)
	}
}

func TestOnly(t *testing.T) {
	env := newTestEnv(t)
	env.opts.Only = "pause"
	results, err := Build(env.opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Name != "pause" {
		t.Fatalf("built %+v, want pause only", results)
	}
	if env.runs(t) != 0 {
		t.Error("building pause ran mmdebstrap")
	}
	env.opts.Only = "nope"
	if _, err := Build(env.opts); err == nil || !strings.Contains(err.Error(), "nexios-example-app") {
		t.Errorf("error %v, want the list of images", err)
	}
}

// TestAppUID: the example app's user is the one the program's pods run as.
func TestAppUID(t *testing.T) {
	source, err := os.ReadFile("../../../components/kube/kube.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const NonRootUID = (\d+)`).FindSubmatch(source)
	if m == nil {
		t.Fatal("no NonRootUID in components/kube/kube.go")
	}
	if uid, _ := strconv.Atoi(string(m[1])); uid != AppUID {
		t.Errorf("components/kube.NonRootUID is %d, AppUID %d", uid, AppUID)
	}
}

func TestList(t *testing.T) {
	opts := Options{OutDir: "out", Versions: DefaultVersions}
	listed := List(opts)
	if len(listed) != len(Specs(DefaultVersions)) {
		t.Fatalf("listed %d images", len(listed))
	}
	for _, l := range listed {
		if filepath.Dir(l.Tarball) != "out" || !strings.HasSuffix(l.Tarball, ".tar") || l.Ref == "" {
			t.Errorf("listed %+v", l)
		}
	}
	pause := ""
	for _, l := range listed {
		if filepath.Base(l.Tarball) == "pause.tar" {
			pause = l.Ref
		}
	}
	if pause != "registry.k8s.io/pause:3.10.2" {
		t.Errorf("pause listed as %q", pause)
	}
}

func TestConfigOver(t *testing.T) {
	base := Config{Env: []string{"PATH=/bin", "A=1"}, Cmd: []string{"sh"}, ExposedPorts: []string{"1/tcp"}, Labels: map[string]string{"a": "1"}}
	got := Config{Env: []string{"A=2", "B=3"}, Entrypoint: []string{"/x"}, ExposedPorts: []string{"2/udp"}}.over(base.over(v1.Config{}))
	want := v1.Config{
		Env: []string{"PATH=/bin", "A=2", "B=3"}, Entrypoint: []string{"/x"},
		ExposedPorts: map[string]struct{}{"1/tcp": {}, "2/udp": {}}, Labels: map[string]string{"a": "1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// TestModuleDownload: a module missing from the module cache is downloaded
// through the go command, whose answer names its folder or its error.
func TestModuleDownload(t *testing.T) {
	env := newTestEnv(t)
	module := filepath.Join(env.opts.ModCache, "github.com/prometheus/alertmanager@v0.28.1")
	elsewhere := filepath.Join(env.dir, "downloaded")
	if err := os.Rename(module, elsewhere); err != nil {
		t.Fatal(err)
	}
	env.opts.Only = "alertmanager"
	env.opts.GoCommand = filepath.Join(env.dir, "go")
	env.write(t, "go", 0o755, "#!/bin/sh\n[ \"$*\" = 'mod download -json github.com/prometheus/alertmanager@v0.28.1' ] || exit 2\necho '{\"Dir\": \""+elsewhere+"\"}'\n")
	if _, err := Build(env.opts); err != nil {
		t.Fatal(err)
	}
	env.write(t, "go", 0o755, "#!/bin/sh\necho '{\"Error\": \"no such version\"}'; exit 1\n")
	env.opts.OutDir = filepath.Join(env.dir, "again")
	if _, err := Build(env.opts); err == nil || !strings.Contains(err.Error(), "go mod download github.com/prometheus/alertmanager@v0.28.1: no such version") {
		t.Errorf("error %v, want the go command's", err)
	}
}

// TestSharedRootfsCache: checkouts sharing a root filesystem cache make it
// once between them, and none prunes it.
func TestSharedRootfsCache(t *testing.T) {
	env := newTestEnv(t)
	env.opts.RootfsCache = filepath.Join(env.dir, "shared")
	env.opts.Only = "nexios-example-app"
	for _, out := range []string{"one", "two"} {
		env.opts.OutDir = filepath.Join(env.dir, out)
		if _, err := Build(env.opts); err != nil {
			t.Fatal(err)
		}
	}
	env.opts.Only = ""
	if _, err := Build(env.opts); err != nil {
		t.Fatal(err)
	}
	// Once per root filesystem: the example app's, then PostgreSQL's.
	if runs := env.runs(t); runs != 2 {
		t.Errorf("mmdebstrap ran %d times, want twice", runs)
	}
	if tarballs, _ := filepath.Glob(filepath.Join(env.opts.RootfsCache, "*.tar")); len(tarballs) != 2 {
		t.Errorf("shared cache holds %v, want two root filesystems", tarballs)
	}
}

// TestDroppedLinks: a symbolic link to a path Drop matches goes with it,
// whether its target is relative or absolute; links to kept paths stay.
func TestDroppedLinks(t *testing.T) {
	d := DebianRootfs{Drop: []string{"etc/ssl/private/*", "etc/ssl/certs/ssl-cert-snakeoil.pem", "var/lib/postgresql/*"}}
	for _, tt := range []struct {
		name, target string
		dropped      bool
	}{
		{"etc/ssl/certs/62742064.0", "ssl-cert-snakeoil.pem", true},
		{"etc/ssl/certs/snakeoil", "/etc/ssl/certs/ssl-cert-snakeoil.pem", true},
		{"usr/lib/ssl/key", "../../../etc/ssl/private/ssl-cert-snakeoil.key", true},
		{"usr/lib/data", "/var/lib/postgresql/15/main", true},
		{"etc/ssl/certs/3513523f.0", "A_Root.pem", false},
		{"etc/ssl/certs/A_Root.pem", "/usr/share/ca-certificates/mozilla/A_Root.crt", false},
		{"usr/lib/ssl/private", "/etc/ssl/private", false},
		{"usr/lib/ssl/cert.pem", "/etc/ssl/certs/ca-certificates.crt", false},
	} {
		if got := d.dropped(linkTarget(tt.name, tt.target)); got != tt.dropped {
			t.Errorf("%s -> %s: dropped %v, want %v", tt.name, tt.target, got, tt.dropped)
		}
	}
}
