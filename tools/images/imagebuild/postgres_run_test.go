package imagebuild

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The contract a StatefulSet runs the PostgreSQL image under, as the test
// gives it: the environment, the user, and the writable mounts of a
// read-only root filesystem.
const (
	pgUser     = "nexios"
	pgPassword = "s3cret pass"
	pgDB       = "nexios-db"
)

// TestPostgresImageRuns runs the built nexios-postgres image with runc as a
// pod would (read-only root filesystem, UID and GID 999, no capabilities,
// emptyDirs at /var/run/postgresql and /tmp, a fresh volume at
// /var/lib/postgresql/data owned root:999 with mode 2775 and lost+found),
// then checks initdb, password authentication over TCP, the client tools,
// the backups' curl (an S3 request signed with --aws-sigv4, https verified
// with the CA bundle) and that no private key is shipped, a clean stop on SIGTERM, the data after a restart and a fast shutdown on
// the image's stop signal with a client connected. `make images-run-test`
// (a step of `make e2e`) builds the image and runs it; it needs root.
func TestPostgresImageRuns(t *testing.T) {
	image := os.Getenv("NEXIOS_POSTGRES_IMAGE")
	if image == "" {
		t.Skip("NEXIOS_POSTGRES_IMAGE is not set: `make images-run-test` builds the image and runs this test")
	}
	if os.Geteuid() != 0 {
		t.Skip("runc needs root to run the image")
	}
	runc := os.Getenv("RUNC")
	if runc == "" {
		runc = "runc"
	}
	if _, err := exec.LookPath(runc); err != nil {
		t.Fatalf("RUNC=%q: %v; `make tools` builds bin/runc", runc, err)
	}
	c := newPgContainer(t, runc, image)

	// What the entrypoint refuses, each in one line naming the fix.
	env := c.spec["process"].(map[string]any)["env"].([]string)
	var noPassword []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "POSTGRES_PASSWORD=") {
			noPassword = append(noPassword, kv)
		}
	}
	t.Run("refused", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			change map[string]any
			volume os.FileMode // the volume's mode, owned by root:root, when not 0
			want   string
		}{
			{"root", map[string]any{"user": map[string]any{"uid": 0, "gid": 0}}, 0, "not as root: set runAsUser: 999"},
			{"a volume without fsGroup", nil, 0o755, "give the volume fsGroup 999"},
			{"no password on a fresh volume", map[string]any{"env": noPassword}, 0, "POSTGRES_PASSWORD is empty: set POSTGRES_PASSWORD"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if tt.volume != 0 {
					if err := os.Chown(c.data, 0, 0); err != nil {
						t.Fatal(err)
					}
					if err := os.Chmod(c.data, tt.volume); err != nil {
						t.Fatal(err)
					}
					defer func() {
						if err := os.Chown(c.data, 0, PostgresUID); err != nil {
							t.Fatal(err)
						}
						if err := os.Chmod(c.data, 0o775|os.ModeSetgid); err != nil {
							t.Fatal(err)
						}
					}()
				}
				c.refused(t, tt.change, tt.want)
			})
		}
	})

	// A fresh volume: initdb runs, the database is made.
	c.start(t)
	if log := c.log(t); !strings.Contains(log, "PostgreSQL init process complete") {
		t.Fatalf("no initialisation on a fresh volume:\n%s", log)
	}
	fi, err := os.Stat(filepath.Join(c.data, "pgdata"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o700 || st.Uid != PostgresUID || st.Gid != PostgresUID {
		t.Errorf("PGDATA: mode %v, owner %d:%d; want 0700, 999:999", fi.Mode().Perm(), st.Uid, st.Gid)
	}
	for _, tt := range []struct {
		name     string
		args     []string
		env      []string
		wantExit int
		want     string
	}{
		{"password over IPv4", psql("127.0.0.1", "SELECT current_user || '@' || current_database()"), []string{"PGPASSWORD=" + pgPassword}, 0, pgUser + "@" + pgDB},
		{"password over IPv6", psql("::1", "SHOW password_encryption"), []string{"PGPASSWORD=" + pgPassword}, 0, "scram-sha-256"},
		{"stored as a SCRAM verifier", psql("127.0.0.1", "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = current_user"), []string{"PGPASSWORD=" + pgPassword}, 0, "SCRAM-SHA-256$"},
		{"wrong password", psql("127.0.0.1", "SELECT 1"), []string{"PGPASSWORD=wrong"}, 2, `password authentication failed for user "nexios"`},
		{"no password", psql("127.0.0.1", "SELECT 1"), nil, 2, "no password supplied"},
		{"pg_isready", []string{"pg_isready", "-h", "127.0.0.1", "-p", "5432"}, nil, 0, "accepting connections"},
		{"pg_dump", []string{"pg_dump", "--version"}, nil, 0, "pg_dump (PostgreSQL) 15."},
		{"pg_restore", []string{"pg_restore", "--version"}, nil, 0, "pg_restore (PostgreSQL) 15."},
		{"psql", []string{"psql", "--version"}, nil, 0, "psql (PostgreSQL) 15."},
		{"read-only root filesystem", []string{"touch", "/etc/written"}, nil, 1, "Read-only file system"},
		{"the postgres user", []string{"id"}, nil, 0, "uid=999(postgres) gid=999(postgres)"},
		// The backups' curl: Debian bookworm's, with --aws-sigv4 (7.75+).
		{"curl", []string{"curl", "--version"}, nil, 0, "curl 7.88.1 "},
		{"the CA certificates", []string{"bash", "-c", `n=$(grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt) && [ "$n" -gt 100 ] && echo "$n CA certificates"`}, nil, 0, " CA certificates"},
		{"no snake-oil certificate", []string{"bash", "-c", `find /etc/ssl -name '*snakeoil*' -o -lname '*snakeoil*' | grep . && exit 1; echo none`}, nil, 0, "none"},
		{"no dangling link", []string{"bash", "-c", `find -L /etc/ssl /usr/lib/ssl -type l | grep . && exit 1; echo none`}, nil, 0, "none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, code := c.exec(t, tt.env, tt.args...)
			if code != tt.wantExit || !strings.Contains(out, tt.want) {
				t.Errorf("%s: exit %d, want %d, with %q in:\n%s", strings.Join(tt.args, " "), code, tt.wantExit, tt.want, out)
			}
		})
	}
	// curl as the backups use it, against servers on the container's
	// loopback (it has no other network): an S3 request signed with
	// --aws-sigv4, and https checked against the CA bundle.
	for _, tt := range []struct {
		name string
		args []string
		want *regexp.Regexp
	}{
		{"curl --aws-sigv4", []string{"perl", "-MIO::Socket::INET", "-e", sigv4Echo},
			regexp.MustCompile(`(?m)^GET /backups/nexios\.dump HTTP/1\.1\r$[\s\S]*^Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}\r$`)},
		{"curl over https", []string{"bash", "-c", httpsCheck},
			regexp.MustCompile(`CAfile: /etc/ssl/certs/ca-certificates\.crt\n[\s\S]*curl: \(60\) SSL certificate problem: self-signed certificate\n[\s\S]*\nexit 60\nexit 0\n$`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if out, code := c.exec(t, nil, tt.args...); code != 0 || !tt.want.MatchString(out) {
				t.Errorf("exit %d, want 0 and output matching %s:\n%s", code, tt.want, out)
			}
		})
	}
	// No private key: ssl-cert's folder is unreadable to postgres, so it is
	// looked at in the unpacked image.
	if private, err := os.ReadDir(filepath.Join(c.bundle, "rootfs", "etc", "ssl", "private")); err != nil || len(private) != 0 {
		t.Errorf("/etc/ssl/private: %v, want an empty folder (%v)", private, err)
	}
	c.sql(t, "CREATE TABLE kept (value text); INSERT INTO kept VALUES ('written before the restart')")

	// SIGTERM with no client: PostgreSQL's smart shutdown, a clean exit.
	c.stop(t, "SIGTERM", "received smart shutdown request")

	// The same volume again: no initialisation, the row is there.
	c.start(t)
	if log := c.log(t); strings.Contains(log, "init process") {
		t.Errorf("initialised a volume holding a database:\n%s", log)
	}
	if got := c.sql(t, "SELECT value FROM kept"); got != "written before the restart" {
		t.Errorf("after the restart the table holds %q", got)
	}
	if out, code := c.exec(t, nil, "pg_dump", "-h", "/var/run/postgresql", "-U", pgUser, "-t", "kept", pgDB); code != 0 || !strings.Contains(out, "written before the restart") {
		t.Errorf("pg_dump: exit %d:\n%s", code, out)
	}

	// The image's stop signal with a client in a query: fast shutdown, which
	// does not wait for it.
	cf, err := c.img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	client := exec.Command(runc, c.runcArgs("exec", "--user", "999:999", "--env", "PGPASSWORD="+pgPassword, c.id, "psql", "-h", "127.0.0.1", "-U", pgUser, "-d", pgDB, "-c", "SELECT pg_sleep(300)")...)
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	defer client.Wait()
	time.Sleep(time.Second)
	c.stop(t, cf.Config.StopSignal, "received fast shutdown request")
	if log := c.log(t); !strings.Contains(log, "terminating connection due to administrator command") {
		t.Errorf("%s: the connected client was not cut off:\n%s", cf.Config.StopSignal, log)
	}
}

// sigv4Echo is a one-request HTTP server on the loopback answering with
// the request's headers, to which it has the image's curl send an S3 GET
// signed with --aws-sigv4 (the x-amz-content-sha256 header S3 wants is the
// caller's to add in curl 7.88); it exits with curl's code.
const sigv4Echo = `
my $server = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1) or die "listen: $!\n";
my $url = "http://127.0.0.1:" . $server->sockport . "/backups/nexios.dump";
defined(my $pid = fork) or die "fork: $!\n";
if (!$pid) {
	exec "curl", "-sS", "--fail", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", "AKIDEXAMPLE:secret",
		"-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", $url;
	die "exec curl: $!\n";
}
my $client = $server->accept or die "accept: $!\n";
my $request = "";
while (my $line = <$client>) { last if $line eq "\r\n"; $request .= $line }
print $client "HTTP/1.1 200 OK\r\nContent-Length: " . length($request) . "\r\nConnection: close\r\n\r\n" . $request;
close $client;
waitpid $pid, 0;
exit($? >> 8);
`

// httpsCheck serves https on the loopback with a self-signed certificate
// (openssl s_server): the image's curl, verifying with its CA bundle by
// default, refuses it (exit 60, not 77 for a missing bundle), and accepts it
// given the certificate as its CA.
const httpsCheck = `cd /tmp
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout https-key.pem -out https-cert.pem 2>&1 || exit
openssl s_server -quiet -www -accept 127.0.0.1:8443 -cert https-cert.pem -key https-key.pem >/dev/null 2>&1 &
server=$!
trap 'kill $server; rm -f https-key.pem https-cert.pem' EXIT
for i in $(seq 50); do (: <>/dev/tcp/127.0.0.1/8443) 2>/dev/null && break; sleep 0.1; done
curl -sS -v -o /dev/null https://127.0.0.1:8443/ 2>&1; echo "exit $?"
curl -sS -o /dev/null --cacert https-cert.pem https://127.0.0.1:8443/ 2>&1; echo "exit $?"
`

// psql is a query over TCP to host as the contract's user and database.
func psql(host, query string) []string {
	return []string{"psql", "-h", host, "-U", pgUser, "-d", pgDB, "-w", "-XAtc", query}
}

// pgContainer is the image unpacked as a runc bundle, with the pod's
// volumes as folders of the test.
type pgContainer struct {
	runc, id, bundle, state, data string
	img                           v1.Image
	// spec is the bundle's config.json, the contract's.
	spec    map[string]any
	cmd     *exec.Cmd
	logFile string
	exited  chan error
}

func newPgContainer(t *testing.T, runc, image string) *pgContainer {
	t.Helper()
	dir := t.TempDir()
	c := &pgContainer{
		runc: runc, id: fmt.Sprintf("nexios-pg-test-%d", os.Getpid()),
		bundle: filepath.Join(dir, "bundle"), state: filepath.Join(dir, "runc"), data: filepath.Join(dir, "data"),
	}
	img, err := tarball.ImageFromPath(image, nil)
	if err != nil {
		t.Fatalf("NEXIOS_POSTGRES_IMAGE: %v", err)
	}
	c.img = img
	rootfs := filepath.Join(c.bundle, "rootfs")
	run, tmp := filepath.Join(dir, "run"), filepath.Join(dir, "tmp")
	for _, d := range []string{rootfs, run, tmp, filepath.Join(c.data, "lost+found")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The root folder as an image's; emptyDirs are 0777; the volume is the
	// kubelet's after fsGroup: root's, group 999, setgid.
	for path, mode := range map[string]os.FileMode{rootfs: 0o755, run: 0o777, tmp: 0o777 | os.ModeSticky, c.data: 0o775 | os.ModeSetgid} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(c.data, 0, PostgresUID); err != nil {
		t.Fatal(err)
	}

	flat := mutate.Extract(img)
	defer flat.Close()
	untar := exec.Command("tar", "-x", "--numeric-owner", "-C", rootfs, "-f", "-")
	untar.Stdin = flat
	if out, err := untar.CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", image, err, out)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "999:999" {
		t.Fatalf("image user %q, want 999:999", cf.Config.User)
	}
	if out, err := exec.Command(runc, "spec", "--bundle", c.bundle).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(c.bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	spec["root"] = map[string]any{"path": "rootfs", "readonly": true}
	spec["hostname"] = "postgres-0"
	noCaps := []string{}
	spec["process"] = map[string]any{
		"terminal": false,
		"user":     map[string]any{"uid": PostgresUID, "gid": PostgresUID, "additionalGids": []int{PostgresUID}},
		"args":     append(append([]string{}, cf.Config.Entrypoint...), cf.Config.Cmd...),
		"env": append(append([]string{}, cf.Config.Env...),
			"POSTGRES_USER="+pgUser, "POSTGRES_PASSWORD="+pgPassword, "POSTGRES_DB="+pgDB),
		"cwd":             "/",
		"noNewPrivileges": true,
		"capabilities":    map[string]any{"bounding": noCaps, "effective": noCaps, "permitted": noCaps},
	}
	mounts := spec["mounts"].([]any)
	for dest, src := range map[string]string{"/var/run/postgresql": run, "/tmp": tmp, "/var/lib/postgresql/data": c.data} {
		mounts = append(mounts, map[string]any{"destination": dest, "type": "bind", "source": src, "options": []string{"rbind", "rw", "nosuid", "nodev"}})
	}
	spec["mounts"] = mounts
	c.spec = spec
	c.writeSpec(t, nil)
	t.Cleanup(func() {
		exec.Command(runc, c.runcArgs("delete", "--force", c.id)...).Run()
	})
	return c
}

// writeSpec writes the contract's config.json, with the process settings of
// change over it.
func (c *pgContainer) writeSpec(t *testing.T, change map[string]any) {
	t.Helper()
	process := map[string]any{}
	for k, v := range c.spec["process"].(map[string]any) {
		process[k] = v
	}
	for k, v := range change {
		process[k] = v
	}
	spec := map[string]any{}
	for k, v := range c.spec {
		spec[k] = v
	}
	spec["process"] = process
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// refused runs the container with the process settings of change, wants it
// to exit 1 within a minute naming want, and puts the contract back.
func (c *pgContainer) refused(t *testing.T, change map[string]any, want string) {
	t.Helper()
	c.writeSpec(t, change)
	defer c.writeSpec(t, nil)
	exec.Command(c.runc, c.runcArgs("delete", "--force", c.id)...).Run()
	cmd := exec.Command(c.runc, c.runcArgs("run", "--bundle", c.bundle, c.id)...)
	done := make(chan struct{})
	timer := time.AfterFunc(time.Minute, func() {
		exec.Command(c.runc, c.runcArgs("kill", c.id, "KILL")...).Run()
		close(done)
	})
	out, err := cmd.CombinedOutput()
	if !timer.Stop() {
		<-done
		t.Fatalf("still running after a minute, want a refusal naming %q:\n%s", want, out)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), want) {
		t.Errorf("exit %v, want 1, with %q in:\n%s", err, want, out)
	}
}

func (c *pgContainer) runcArgs(args ...string) []string {
	return append([]string{"--root", c.state}, args...)
}

// start runs the container in the foreground of a runc process, its output
// in a log of its own per start, and waits for the server over TCP.
func (c *pgContainer) start(t *testing.T) {
	t.Helper()
	c.logFile = filepath.Join(filepath.Dir(c.bundle), "log-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	log, err := os.Create(c.logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	exec.Command(c.runc, c.runcArgs("delete", "--force", c.id)...).Run()
	c.cmd = exec.Command(c.runc, c.runcArgs("run", "--bundle", c.bundle, c.id)...)
	c.cmd.Stdout, c.cmd.Stderr = log, log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.exited = make(chan error, 1)
	go func() { c.exited <- c.cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case err := <-c.exited:
			t.Fatalf("the container exited (%v) before accepting connections:\n%s", err, c.log(t))
		default:
		}
		if _, code := c.exec(t, nil, "pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"); code == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not accepting connections on 127.0.0.1:5432 after 2 minutes:\n%s", c.log(t))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// stop sends signal to the container's PID 1 and wants a clean exit within
// 30 seconds, the log naming the shutdown mode.
func (c *pgContainer) stop(t *testing.T, signal, mode string) {
	t.Helper()
	start := time.Now()
	if out, err := exec.Command(c.runc, c.runcArgs("kill", c.id, signal)...).CombinedOutput(); err != nil {
		t.Fatalf("runc kill %s: %v\n%s", signal, err, out)
	}
	select {
	case err := <-c.exited:
		if err != nil {
			t.Errorf("%s: the container exited with %v, want 0", signal, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: still running after 30 s:\n%s", signal, c.log(t))
	}
	log := c.log(t)
	if !strings.Contains(log, mode) || !strings.Contains(log, "database system is shut down") {
		t.Errorf("%s: want %q and a shut-down database in the log:\n%s", signal, mode, log)
	}
	t.Logf("%s: stopped in %s", signal, time.Since(start).Round(time.Millisecond))
}

// exec runs a command in the running container as postgres: its output and
// exit code.
func (c *pgContainer) exec(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	runcArgs := c.runcArgs("exec", "--user", "999:999")
	for _, kv := range env {
		runcArgs = append(runcArgs, "--env", kv)
	}
	runcArgs = append(append(runcArgs, c.id), args...)
	out, err := exec.Command(c.runc, runcArgs...).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("runc exec %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// sql runs statements over TCP with the password and returns the output.
func (c *pgContainer) sql(t *testing.T, statements string) string {
	t.Helper()
	out, code := c.exec(t, []string{"PGPASSWORD=" + pgPassword}, psql("127.0.0.1", statements)...)
	if code != 0 {
		t.Fatalf("psql %q: exit %d\n%s", statements, code, out)
	}
	return strings.TrimSpace(out)
}

func (c *pgContainer) log(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(c.logFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
