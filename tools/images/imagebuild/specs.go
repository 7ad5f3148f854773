package imagebuild

// The images the program's manifests use, and the bases they are built on.
// Each reproduces its upstream image's layout (paths, owners, modes, user,
// entrypoint, command, working folder, ports, volumes, environment, labels)
// as the upstream Dockerfile named in Upstream builds it; the files come from
// bin/ (the binaries), the Go module cache (example configurations, licences),
// this repository (the example app) and Debian packages installed here.

const (
	nobody  = 65534 // nobody in busybox and distroless
	nonroot = 65532 // distroless' nonroot
	// AppUID is the example app's user and group. It equals NonRootUID in
	// components/kube, which the program's pods run as (a test checks).
	AppUID = 10001

	prometheusModule   = "github.com/prometheus/prometheus@v0.305.0" // Prometheus v3.5.0
	alertmanagerModule = "github.com/prometheus/alertmanager@v0.28.1"

	defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// Versions are the image tags that follow the binaries bin/upstream holds
// rather than this table; the make variables of the binaries' build set them.
type Versions struct {
	CoreDNS string // e.g. v1.15.0
	Pause   string // e.g. 3.10.2
}

// DefaultVersions match the coredns module in the module cache and the pause
// tag of Kubernetes v1.37.2 (build/pause/Makefile, kubeadm's PauseVersion).
var DefaultVersions = Versions{CoreDNS: "v1.15.0", Pause: "3.10.2"}

// Specs is the table of images, in build order.
func Specs(v Versions) []Spec {
	return []Spec{
		{
			Name:     "prometheus",
			Ref:      "prom/prometheus:v3.5.0",
			Base:     prometheusBusybox,
			Upstream: "github.com/prometheus/prometheus v3.5.0 Dockerfile",
			Contents: []Contents{
				File{Path: "/bin/prometheus", From: Bin("upstream/prometheus"), Mode: 0o755},
				File{Path: "/bin/promtool", From: Bin("upstream/promtool"), Mode: 0o755},
				// RUN chown -R nobody:nobody /etc/prometheus /prometheus && chmod g+w /prometheus
				Dir{Path: "/etc/prometheus", Mode: 0o755, UID: nobody, GID: nobody},
				File{Path: "/etc/prometheus/prometheus.yml", From: Module(prometheusModule, "documentation/examples/prometheus.yml"), Mode: 0o644, UID: nobody, GID: nobody},
				File{Path: "/LICENSE", From: Module(prometheusModule, "LICENSE"), Mode: 0o644},
				File{Path: "/NOTICE", From: Module(prometheusModule, "NOTICE"), Mode: 0o644},
				Dir{Path: "/prometheus", Mode: 0o775, UID: nobody, GID: nobody},
			},
			Config: Config{
				User:         "nobody",
				ExposedPorts: []string{"9090/tcp"},
				Volumes:      []string{"/prometheus"},
				WorkingDir:   "/prometheus",
				Entrypoint:   []string{"/bin/prometheus"},
				Cmd:          []string{"--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"},
				Labels: map[string]string{
					"maintainer":                      "The Prometheus Authors <prometheus-developers@googlegroups.com>",
					"org.opencontainers.image.source": "https://github.com/prometheus/prometheus",
				},
			},
		},
		{
			Name:     "alertmanager",
			Ref:      "prom/alertmanager:v0.28.1",
			Base:     prometheusBusybox,
			Upstream: "github.com/prometheus/alertmanager v0.28.1 Dockerfile",
			Contents: []Contents{
				File{Path: "/bin/amtool", From: Bin("upstream/amtool"), Mode: 0o755},
				File{Path: "/bin/alertmanager", From: Bin("upstream/alertmanager"), Mode: 0o755},
				// RUN mkdir -p /alertmanager && chown -R nobody:nobody etc/alertmanager /alertmanager
				Dir{Path: "/etc/alertmanager", Mode: 0o755, UID: nobody, GID: nobody},
				File{Path: "/etc/alertmanager/alertmanager.yml", From: Module(alertmanagerModule, "examples/ha/alertmanager.yml"), Mode: 0o644, UID: nobody, GID: nobody},
				Dir{Path: "/alertmanager", Mode: 0o755, UID: nobody, GID: nobody},
			},
			Config: Config{
				User:         "nobody",
				ExposedPorts: []string{"9093/tcp"},
				Volumes:      []string{"/alertmanager"},
				WorkingDir:   "/alertmanager",
				Entrypoint:   []string{"/bin/alertmanager"},
				Cmd:          []string{"--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"},
				Labels: map[string]string{
					"maintainer":                      "The Prometheus Authors <prometheus-developers@googlegroups.com>",
					"org.opencontainers.image.source": "https://github.com/prometheus/alertmanager",
				},
			},
		},
		{
			Name:     "kube-state-metrics",
			Ref:      "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0",
			Base:     distrolessStatic,
			Upstream: "k8s.io/kube-state-metrics v2.16.0 Dockerfile",
			Contents: []Contents{
				File{Path: "/kube-state-metrics", From: Bin("upstream/kube-state-metrics"), Mode: 0o755},
			},
			Config: Config{
				// The name, as upstream has it; distroless' /etc/passwd maps it to 65534.
				User:         "nobody",
				Entrypoint:   []string{"/kube-state-metrics", "--port=8080", "--telemetry-port=8081"},
				ExposedPorts: []string{"8080/tcp", "8081/tcp"},
			},
		},
		{
			Name:     "prometheus-adapter",
			Ref:      "registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0",
			Base:     distrolessStatic,
			Upstream: "sigs.k8s.io/prometheus-adapter v0.12.0 Dockerfile",
			Contents: []Contents{
				File{Path: "/adapter", From: Bin("upstream/adapter"), Mode: 0o755},
			},
			Config: Config{User: "65534", Entrypoint: []string{"/adapter"}},
		},
		{
			Name:     "metrics-server",
			Ref:      "registry.k8s.io/metrics-server/metrics-server:v0.8.0",
			Base:     distrolessStatic,
			Upstream: "sigs.k8s.io/metrics-server v0.8.0 Dockerfile",
			Contents: []Contents{
				File{Path: "/metrics-server", From: Bin("upstream/metrics-server"), Mode: 0o755},
			},
			Config: Config{User: "65534", Entrypoint: []string{"/metrics-server"}},
		},
		{
			Name:     "coredns",
			Ref:      "registry.k8s.io/coredns/coredns:" + vTag(v.CoreDNS),
			Base:     distrolessStaticNonroot,
			Upstream: "github.com/coredns/coredns " + vTag(v.CoreDNS) + " Dockerfile",
			Contents: []Contents{
				// RUN setcap cap_net_bind_service=+ep /coredns: binds :53 as 65532.
				File{Path: "/coredns", From: Bin("upstream/coredns"), Mode: 0o755, Capabilities: capNetBindService},
			},
			Config: Config{
				User:         "65532:65532",
				WorkingDir:   "/",
				ExposedPorts: []string{"53/tcp", "53/udp"},
				Entrypoint:   []string{"/coredns"},
			},
		},
		{
			Name:     "pause",
			Ref:      "registry.k8s.io/pause:" + bareTag(v.Pause),
			Base:     scratch,
			Upstream: "k8s.io/kubernetes build/pause/Dockerfile (BASE=scratch)",
			Contents: []Contents{
				File{Path: "/pause", From: Bin("upstream/pause"), Mode: 0o755},
			},
			Config: Config{User: "65535:65535", Entrypoint: []string{"/pause"}},
		},
		{
			Name:     "nexios-example-app",
			Ref:      "ghcr.io/nexios-labs/nexios-example-app:0.1.0",
			Base:     debianPython,
			Upstream: "examples/app (this repository)",
			Contents: []Contents{
				Dir{Path: "/app", Mode: 0o755},
				// Read-only for everyone, the app's user included; its tests stay out.
				Glob{Dir: "/app", From: Repo("examples/app"), Pattern: "*.py", Exclude: "test_*.py", Require: []string{"run.py"}, Mode: 0o444},
				AppendLines{Path: "/etc/passwd", Lines: []string{"nexios:x:10001:10001:nexios example app:/nonexistent:/usr/sbin/nologin"}},
				AppendLines{Path: "/etc/group", Lines: []string{"nexios:x:10001:"}},
			},
			Config: Config{
				User:         "10001:10001",
				WorkingDir:   "/app",
				Env:          []string{"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "PORT=8000"},
				ExposedPorts: []string{"8000/tcp"},
				Entrypoint:   []string{"python3", "/app/run.py"},
			},
		},
		{
			Name:     "nexios-postgres",
			Ref:      "ghcr.io/nexios-labs/nexios-postgres:15",
			Base:     debianPostgres,
			Upstream: "github.com/docker-library/postgres 15/bookworm Dockerfile, from Debian's PostgreSQL 15",
			Contents: []Contents{
				// Upstream: COPY docker-entrypoint.sh /usr/local/bin/ (its
				// initdb scripts, gosu and nss_wrapper left out: the image
				// runs as postgres, see the script).
				File{Path: "/usr/local/bin/docker-entrypoint.sh", From: Repo("tools/images/postgres/docker-entrypoint.sh"), Mode: 0o755},
				// install --directory --owner postgres --group postgres --mode
				// 1777 /var/lib/postgresql, 3777 /var/run/postgresql (/run in
				// Debian, /var/run a link to it) and 1777 for the volume.
				Dir{Path: "/var/lib/postgresql", Mode: 0o1777, UID: PostgresUID, GID: PostgresUID},
				Dir{Path: "/run/postgresql", Mode: 0o3777, UID: PostgresUID, GID: PostgresUID},
				Dir{Path: "/var/lib/postgresql/data", Mode: 0o1777, UID: PostgresUID, GID: PostgresUID},
				// Upstream sets listen_addresses = '*' in the sample
				// postgresql.conf initdb copies; a later line wins.
				AppendLines{Path: "/usr/share/postgresql/15/postgresql.conf.sample", Lines: []string{"listen_addresses = '*'"}},
			},
			Config: Config{
				// Numeric, so that the kubelet can check runAsNonRoot.
				User: "999:999",
				Env: []string{
					"PG_MAJOR=15",
					defaultPath + ":/usr/lib/postgresql/15/bin",
					// Upstream has C.UTF-8's en_US.utf8 from the locales
					// package; Debian's libc has C.UTF-8 built in.
					"LANG=C.UTF-8",
					// A folder below the volume, not the volume itself: initdb
					// wants an empty folder of mode 0700 owned by postgres, and
					// a fresh volume is root:999 (fsGroup) with lost+found.
					"PGDATA=/var/lib/postgresql/data/pgdata",
				},
				Volumes:      []string{"/var/lib/postgresql/data"},
				Entrypoint:   []string{"docker-entrypoint.sh"},
				Cmd:          []string{"postgres"},
				ExposedPorts: []string{"5432/tcp"},
				// Fast shutdown (SIGTERM is PostgreSQL's smart shutdown, which
				// waits for every client to disconnect).
				StopSignal: "SIGINT",
			},
		},
	}
}

// prometheusBusybox is quay.io/prometheus/busybox:latest (its uclibc
// variant): the official busybox image (docker-library/busybox,
// latest/uclibc/Dockerfile.builder: busybox with every applet hard-linked in
// /bin, buildroot's skeleton /etc/passwd, /etc/group and /etc/shadow, the
// modes of buildroot's device_table.txt, a home folder for every user,
// /usr/bin/env and /etc/localtime for UTC) plus what prometheus/busybox's
// uclibc/Dockerfile copies from Debian: /etc/nsswitch.conf, the CA
// certificates, /usr/share/zoneinfo and /etc/services. The busybox binary is
// Debian's busybox-static.
var prometheusBusybox = &Base{
	Name:     "prometheus-busybox",
	Upstream: "quay.io/prometheus/busybox:latest",
	Contents: []Contents{
		Dir{Path: "/bin", Mode: 0o755},
		BusyboxApplets{Binary: Host("/bin/busybox", "busybox-static"), Dir: "/bin"},
		// buildroot's system/device_table.txt
		Dir{Path: "/dev", Mode: 0o755},
		Dir{Path: "/tmp", Mode: 0o1777},
		Dir{Path: "/etc", Mode: 0o755},
		Dir{Path: "/root", Mode: 0o700},
		Dir{Path: "/var/www", Mode: 0o755, UID: 33, GID: 33},
		Text{Path: "/etc/passwd", Mode: 0o644, Data: busyboxPasswd},
		Text{Path: "/etc/group", Mode: 0o644, Data: busyboxGroup},
		Text{Path: "/etc/shadow", Mode: 0o600, Data: busyboxShadow},
		// The users' missing home folders, owned by them (upstream's loop over
		// /etc/passwd); the others (/bin, /dev, /var, /var/www) exist already.
		Dir{Path: "/usr/sbin", Mode: 0o755, UID: 1, GID: 1},
		Dir{Path: "/var/spool/mail", Mode: 0o755, UID: 8, GID: 8},
		Dir{Path: "/home", Mode: 0o755, UID: nobody, GID: nobody},
		Symlink{Path: "/usr/bin/env", Target: "../../bin/env"},
		File{Path: "/etc/localtime", From: Host("/usr/share/zoneinfo/UTC", "tzdata"), Mode: 0o644},
		// prometheus/busybox: COPY --from=0 /rootfs /
		Dir{Path: "/lib", Mode: 0o755},
		File{Path: "/etc/nsswitch.conf", From: Host("/etc/nsswitch.conf", "libc-bin"), Mode: 0o644},
		CABundle{Path: "/etc/ssl/certs/ca-certificates.crt", From: Host("/usr/share/ca-certificates/mozilla", "ca-certificates")},
		Tree{Path: "/usr/share/zoneinfo", From: Host("/usr/share/zoneinfo", "tzdata")},
		File{Path: "/etc/services", From: Host("/etc/services", "netbase"), Mode: 0o644},
	},
	Config: Config{Env: []string{defaultPath}, Cmd: []string{"sh"}},
}

// buildroot's system/skeleton/etc files, as the busybox image has them (root's
// empty password locked, CVE-2019-5021).
const (
	busyboxPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`
	busyboxGroup = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nobody:x:65534:
`
	busyboxShadow = `root:*:::::::
daemon:*:::::::
bin:*:::::::
sys:*:::::::
sync:*:::::::
mail:*:::::::
www-data:*:::::::
operator:*:::::::
nobody:*:::::::
`
)

// distrolessContents are gcr.io/distroless/static-debian12's files
// (GoogleContainerTools/distroless, base/base.bzl as of mid-2025): the Debian
// packages base-files, netbase and tzdata, then /etc/passwd, /etc/group, the
// home folders, /tmp, /etc/nsswitch.conf, /etc/os-release and the CA
// certificates, later entries replacing earlier ones.
var distrolessContents = []Contents{
	DebianPackage{Name: "base-files"},
	DebianPackage{Name: "netbase"},
	DebianPackage{Name: "tzdata"},
	Text{Path: "/etc/passwd", Mode: 0o644, Data: "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
	Text{Path: "/etc/group", Mode: 0o644, Data: "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"},
	Dir{Path: "/root", Mode: 0o700},
	Dir{Path: "/home", Mode: 0o755},
	Dir{Path: "/home/nonroot", Mode: 0o700, UID: nonroot, GID: nonroot},
	Dir{Path: "/tmp", Mode: 0o1777},
	Text{Path: "/etc/nsswitch.conf", Mode: 0o644, Data: distrolessNsswitch},
	Text{Path: "/etc/os-release", Mode: 0o644, Data: `PRETTY_NAME="Distroless"
NAME="Debian GNU/Linux"
ID="debian"
VERSION_ID="12"
VERSION="Debian GNU/Linux 12 (bookworm)"
HOME_URL="https://github.com/GoogleContainerTools/distroless"
SUPPORT_URL="https://github.com/GoogleContainerTools/distroless/blob/master/README.md"
BUG_REPORT_URL="https://github.com/GoogleContainerTools/distroless/issues/new"
`},
	CABundle{Path: "/etc/ssl/certs/ca-certificates.crt", From: Host("/usr/share/ca-certificates/mozilla", "ca-certificates")},
}

const distrolessNsswitch = `# /etc/nsswitch.conf
#
# Example configuration of GNU Name Service Switch functionality.
# If you have the ` + "`glibc-doc-reference'" + ` and ` + "`info'" + ` packages installed, try:
# ` + "`info libc \"Name Service Switch\"'" + ` for information about this file.

passwd:         compat
group:          compat
shadow:         compat
gshadow:        files

hosts:          files dns
networks:       files

protocols:      db files
services:       db files
ethers:         db files
rpc:            db files

netgroup:       nis
`

var distrolessEnv = []string{defaultPath, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}

// distrolessStatic is gcr.io/distroless/static-debian12 (:latest, root).
var distrolessStatic = &Base{
	Name:     "distroless-static",
	Upstream: "gcr.io/distroless/static-debian12:latest",
	Contents: distrolessContents,
	Config:   Config{Env: distrolessEnv, User: "0", WorkingDir: "/"},
}

// distrolessStaticNonroot is gcr.io/distroless/static-debian12:nonroot: the
// same layer, run as nonroot in its home.
var distrolessStaticNonroot = &Base{
	Name:     "distroless-static-nonroot",
	Upstream: "gcr.io/distroless/static-debian12:nonroot",
	Contents: distrolessContents,
	Config:   Config{Env: distrolessEnv, User: "65532", WorkingDir: "/home/nonroot"},
}

// scratch is FROM scratch as BuildKit builds it: no layer, PATH set and /
// as the working folder.
var scratch = &Base{
	Name:     "scratch",
	Upstream: "scratch",
	Config:   Config{Env: []string{defaultPath}, WorkingDir: "/"},
}

// debianPython is a Debian bookworm root filesystem holding Python 3 with
// uvicorn, prometheus_client and psycopg2 (the example app's /db). Its
// config is debian:bookworm's.
var debianPython = &Base{
	Name:     "debian-bookworm-python",
	Upstream: "debian:bookworm (mmdebstrap --variant=essential)",
	Contents: []Contents{
		debianBookworm([]string{"python3", "python3-uvicorn", "python3-prometheus-client", "python3-psycopg2"}, nil, nil),
	},
	Config: Config{Env: []string{defaultPath}, Cmd: []string{"bash"}},
}

// PostgresUID is the postgres user's UID and GID in the PostgreSQL image,
// the official image's (docker-library/postgres: groupadd -r postgres
// --gid=999; useradd -r -g postgres --uid=999).
const PostgresUID = 999

// debianPostgres is a Debian bookworm root filesystem holding PostgreSQL 15
// (server and client) from Debian's own packages, its postgres user created
// with the official image's IDs before the packages' scripts would pick
// others, plus curl and the CA certificates for the backups: a job of this
// image uploads pg_dump's files to an S3-compatible bucket with `curl
// --aws-sigv4`, over https. The main cluster Debian's postinst creates is
// dropped: the image's entrypoint makes the database in PGDATA.
var debianPostgres = &Base{
	Name:     "debian-bookworm-postgresql-15",
	Upstream: "debian:bookworm (mmdebstrap --variant=essential)",
	Contents: []Contents{
		debianBookworm(
			[]string{"postgresql-15", "postgresql-client-15", "curl", "ca-certificates"},
			[]string{
				// postgresql-common's postinst runs `adduser --system postgres`
				// only when there is no such user: this one is kept.
				`echo 'postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/bash' >> "$1/etc/passwd"`,
				`echo 'postgres:x:999:' >> "$1/etc/group"`,
			},
			[]string{
				// The main cluster postgresql-15's postinst makes, its
				// configuration and log, and ssl-cert's snake-oil key pair:
				// no image ships a private key. The certificate's hash link
				// (<hash>.0, the hash of its subject, the build host's name)
				// goes with it, as a link to a dropped file; the CA
				// certificates, their links and ca-certificates.crt stay.
				"etc/postgresql/*", "var/lib/postgresql/*", "var/log/postgresql/*",
				"etc/ssl/private/*", "etc/ssl/certs/ssl-cert-snakeoil.pem",
			},
		),
	},
	Config: Config{Env: []string{defaultPath}, Cmd: []string{"bash"}},
}

// debianBookworm is a Debian bookworm root filesystem as small as mmdebstrap
// makes it: the Essential packages and these, without apt, documentation
// other than copyrights, manuals or translations, nor what drop names.
func debianBookworm(packages, essentialHooks, drop []string) DebianRootfs {
	return DebianRootfs{
		Suite:          "bookworm",
		Variant:        "essential",
		Packages:       packages,
		EssentialHooks: essentialHooks,
		// Merged /usr as debootstrap (and so debian:bookworm) makes it,
		// with usr-is-merged: else apt satisfies init-system-helpers
		// with usrmerge, which pulls in Perl.
		HookDirs: []string{"/usr/share/mmdebstrap/hooks/merged-usr"},
		Mirrors: []string{
			"deb http://deb.debian.org/debian bookworm main",
			"deb http://deb.debian.org/debian bookworm-updates main",
			"deb http://deb.debian.org/debian-security bookworm-security main",
		},
		DpkgOptions: []string{
			"path-exclude=/usr/share/doc/*",
			"path-include=/usr/share/doc/*/copyright",
			"path-exclude=/usr/share/man/*",
			"path-exclude=/usr/share/info/*",
			"path-exclude=/usr/share/locale/*",
			"path-exclude=/usr/share/lintian/*",
		},
		// The runtime provides /dev, /etc/hostname and /etc/resolv.conf;
		// the rest are caches and logs of the installation.
		Drop: append([]string{
			"dev/*", "etc/hostname", "etc/resolv.conf",
			"var/cache/apt/*", "var/lib/apt/lists/*", "var/cache/ldconfig/aux-cache",
			"var/cache/debconf/*-old", "var/lib/dpkg/*-old",
			"var/log/apt/*", "var/log/dpkg.log", "var/log/alternatives.log", "var/log/bootstrap.log",
		}, drop...),
	}
}
