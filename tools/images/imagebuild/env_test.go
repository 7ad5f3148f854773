package imagebuild

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testEnv is a stand-in for everything the images are built from: small
// binaries, module files, the example app, Debian's files and an mmdebstrap
// that writes a tiny root filesystem.
type testEnv struct {
	dir  string
	opts Options
	// mmdebstrapRuns is the file the stand-in mmdebstrap adds a line to
	// per run: its arguments.
	mmdebstrapRuns string
}

var standInBinaries = []string{"prometheus", "promtool", "alertmanager", "amtool", "kube-state-metrics", "adapter", "metrics-server", "coredns", "pause"}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	env := &testEnv{dir: dir, mmdebstrapRuns: filepath.Join(dir, "mmdebstrap-runs")}
	env.opts = Options{
		BinDir:     filepath.Join(dir, "bin"),
		OutDir:     filepath.Join(dir, "bin", "images"),
		RepoDir:    filepath.Join(dir, "repo"),
		HostRoot:   filepath.Join(dir, "host"),
		ModCache:   filepath.Join(dir, "modcache"),
		Versions:   Versions{CoreDNS: "1.12.1", Pause: "v3.10"},
		Mmdebstrap: filepath.Join(dir, "mmdebstrap"),
	}
	for _, name := range standInBinaries {
		env.write(t, filepath.Join("bin/upstream", name), 0o755, "#!/bin/sh\necho stand-in "+name+"\n")
	}
	prom := "modcache/github.com/prometheus/prometheus@v0.305.0"
	env.write(t, prom+"/documentation/examples/prometheus.yml", 0o444, "global:\n  scrape_interval: 15s\n")
	env.write(t, prom+"/LICENSE", 0o444, "Apache License\n")
	env.write(t, prom+"/NOTICE", 0o444, "The Prometheus systems and service monitoring server\n")
	env.write(t, "modcache/github.com/prometheus/alertmanager@v0.28.1/examples/ha/alertmanager.yml", 0o444, "route:\n  receiver: web.hook\n")
	env.write(t, "repo/examples/app/run.py", 0o644, "import app\n")
	env.write(t, "repo/examples/app/app.py", 0o644, "print('app')\n")
	env.write(t, "repo/examples/app/test_app.py", 0o644, "import unittest\n")
	env.write(t, "repo/examples/app/README.md", 0o644, "# app\n")
	env.write(t, "repo/tools/images/postgres/docker-entrypoint.sh", 0o755, "#!/usr/bin/env bash\nexec \"$@\"\n")

	env.write(t, "host/bin/busybox", 0o755, "#!/bin/sh\nprintf '[\\n[[\\nbusybox\\nenv\\nls\\nsh\\n'\n")
	env.write(t, "host/usr/share/zoneinfo/Etc/UTC", 0o644, "TZif2 UTC\n")
	env.write(t, "host/usr/share/zoneinfo/Europe/Paris", 0o644, "TZif2 Paris\n")
	env.symlink(t, "host/usr/share/zoneinfo/UTC", "Etc/UTC")
	env.write(t, "host/usr/share/ca-certificates/mozilla/A_Root.crt", 0o644, "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n")
	env.write(t, "host/usr/share/ca-certificates/mozilla/B_Root.crt", 0o644, "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----")
	env.write(t, "host/etc/nsswitch.conf", 0o644, "passwd: files\n")
	env.write(t, "host/etc/services", 0o644, "http 80/tcp\n")
	env.write(t, "host/etc/debian_version", 0o644, "12.11\n")
	env.write(t, "host/usr/lib/os-release", 0o644, "ID=debian\n")
	env.symlink(t, "host/etc/os-release", "../usr/lib/os-release")
	env.write(t, "host/var/lib/dpkg/info/base-files.list", 0o644, "/.\n/etc\n/etc/debian_version\n/etc/os-release\n/usr\n/usr/lib\n/usr/lib/os-release\n/usr/share/doc/base-files/README\n")
	env.write(t, "host/var/lib/dpkg/info/netbase.list", 0o644, "/.\n/etc\n/etc/services\n")
	env.write(t, "host/var/lib/dpkg/info/tzdata.list", 0o644, "/.\n/usr\n/usr/share\n/usr/share/zoneinfo\n/usr/share/zoneinfo/Etc\n/usr/share/zoneinfo/Etc/UTC\n/usr/share/zoneinfo/UTC\n/usr/share/zoneinfo/Europe\n/usr/share/zoneinfo/Europe/Paris\n")

	env.writeBytes(t, "rootfs.tar", 0o644, standInRootfs(t))
	env.write(t, "mmdebstrap", 0o755, `#!/bin/sh
echo "$*" >> '`+env.mmdebstrapRuns+`'
for arg; do
	case "$arg" in
	*.tar) cp '`+filepath.Join(dir, "rootfs.tar")+`' "$arg" ;;
	esac
done
`)
	return env
}

// standInRootfs is a tiny root filesystem as mmdebstrap writes one: names
// starting with ./, the root folder not first, device files, a hard link;
// curl, and the CA certificates next to ssl-cert's snake-oil pair, as
// update-ca-certificates links them.
func standInRootfs(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(hdr tar.Header, data string) {
		hdr.Size = int64(len(data))
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./dev/", Mode: 0o755}, "")
	add(tar.Header{Typeflag: tar.TypeChar, Name: "./dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}, "")
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755}, "")
	add(tar.Header{Typeflag: tar.TypeSymlink, Name: "./bin", Linkname: "usr/bin", Mode: 0o777}, "")
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./etc/", Mode: 0o755}, "")
	add(tar.Header{Typeflag: tar.TypeReg, Name: "./etc/passwd", Mode: 0o644}, "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
	add(tar.Header{Typeflag: tar.TypeReg, Name: "./etc/group", Mode: 0o644}, "root:x:0:\nnogroup:x:65534:")
	add(tar.Header{Typeflag: tar.TypeReg, Name: "./etc/hostname", Mode: 0o644}, "buildhost\n")
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./usr/", Mode: 0o755}, "")
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./usr/bin/", Mode: 0o755}, "")
	add(tar.Header{Typeflag: tar.TypeReg, Name: "./usr/bin/python3.11", Mode: 0o755}, "#!/bin/sh\necho python\n")
	add(tar.Header{Typeflag: tar.TypeSymlink, Name: "./usr/bin/python3", Linkname: "python3.11", Mode: 0o777}, "")
	add(tar.Header{Typeflag: tar.TypeLink, Name: "./usr/bin/perl5.36.0", Linkname: "./usr/bin/python3.11", Mode: 0o755}, "")
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./var/", Mode: 0o755}, "")
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./var/lib/", Mode: 0o755}, "")
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./var/lib/apt/", Mode: 0o755}, "")
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./var/lib/apt/lists/", Mode: 0o755}, "")
	add(tar.Header{Typeflag: tar.TypeReg, Name: "./var/lib/apt/lists/lock", Mode: 0o640}, "")
	add(tar.Header{Typeflag: tar.TypeReg, Name: "./var/lib/dpkg/status-old", Mode: 0o644}, "old\n")
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./usr/share/postgresql/15/", Mode: 0o755}, "")
	add(tar.Header{Typeflag: tar.TypeReg, Name: "./usr/share/postgresql/15/postgresql.conf.sample", Mode: 0o644}, "#listen_addresses = 'localhost'\n")
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./var/lib/postgresql/15/main/", Mode: 0o700, Uid: 999, Gid: 999}, "")
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./etc/ssl/private/", Mode: 0o710}, "")
	add(tar.Header{Typeflag: tar.TypeReg, Name: "./etc/ssl/private/ssl-cert-snakeoil.key", Mode: 0o640}, "KEY\n")
	add(tar.Header{Typeflag: tar.TypeSymlink, Name: "./usr/lib/ssl/private", Linkname: "/etc/ssl/private", Mode: 0o777}, "")
	add(tar.Header{Typeflag: tar.TypeDir, Name: "./etc/ssl/certs/", Mode: 0o755}, "")
	add(tar.Header{Typeflag: tar.TypeReg, Name: "./etc/ssl/certs/ssl-cert-snakeoil.pem", Mode: 0o644}, "SNAKE-OIL CERTIFICATE\n")
	add(tar.Header{Typeflag: tar.TypeSymlink, Name: "./etc/ssl/certs/62742064.0", Linkname: "ssl-cert-snakeoil.pem", Mode: 0o777}, "")
	add(tar.Header{Typeflag: tar.TypeReg, Name: "./usr/share/ca-certificates/mozilla/A_Root.crt", Mode: 0o644}, "A ROOT CERTIFICATE\n")
	add(tar.Header{Typeflag: tar.TypeSymlink, Name: "./etc/ssl/certs/A_Root.pem", Linkname: "/usr/share/ca-certificates/mozilla/A_Root.crt", Mode: 0o777}, "")
	add(tar.Header{Typeflag: tar.TypeSymlink, Name: "./etc/ssl/certs/3513523f.0", Linkname: "A_Root.pem", Mode: 0o777}, "")
	add(tar.Header{Typeflag: tar.TypeReg, Name: "./etc/ssl/certs/ca-certificates.crt", Mode: 0o644}, "A ROOT CERTIFICATE\n")
	add(tar.Header{Typeflag: tar.TypeReg, Name: "./usr/bin/curl", Mode: 0o755}, "#!/bin/sh\necho curl\n")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (e *testEnv) write(t *testing.T, rel string, mode os.FileMode, data string) {
	t.Helper()
	e.writeBytes(t, rel, mode, []byte(data))
}

func (e *testEnv) writeBytes(t *testing.T, rel string, mode os.FileMode, data []byte) {
	t.Helper()
	p := filepath.Join(e.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func (e *testEnv) symlink(t *testing.T, rel, target string) {
	t.Helper()
	p := filepath.Join(e.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// runs is how many times the stand-in mmdebstrap ran.
func (e *testEnv) runs(t *testing.T) int {
	t.Helper()
	return len(e.invocations(t))
}

// invocations are the stand-in mmdebstrap's arguments, a line per run.
func (e *testEnv) invocations(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(e.mmdebstrapRuns)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}
