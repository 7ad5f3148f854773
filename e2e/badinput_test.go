package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"

	"github.com/nexios-labs/nexios-k8s/internal/localcluster"
	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

// brokenStack is a stack file with mistakes, and every problem deploy must report for it: a key path
// and a part of its message each, and nothing else.
type brokenStack struct {
	name   string
	config string // the stack file's config section, indented under config:
	want   []string
}

const brokenApp = "  nexios:environment: dev\n  nexios:app:\n    image: ghcr.io/nexios-labs/nexios-app:1.0.0\n"

// brokenStacks are wrong types, unknown keys and impossible values at every depth of the configuration,
// a missing prod secret, malformed quantities and durations.
var brokenStacks = []brokenStack{
	{"unknown-top-key", brokenApp + "  nexios:replicas: 2\n",
		[]string{"nexios:replicas: unknown key; valid keys: app,"}},
	{"section-not-a-mapping", "  nexios:environment: dev\n  nexios:app: 3\n",
		[]string{"nexios:app: must be a mapping of keys, got a number"}},
	{"unknown-environment", "  nexios:environment: stage\n  nexios:app:\n    image: a/b:1\n",
		[]string{`nexios:environment: "stage" is not an environment; use dev or prod`}},
	{"typo-next-to-wrong-type", "  nexios:environment: dev\n  nexios:app:\n    image: a/b:1\n    replicaz: 2\n    replicas: three\n",
		[]string{`nexios:app.replicaz: unknown key; did you mean "replicas"?`, "nexios:app.replicas: expected a whole number, got a string"}},
	{"map-value-wrong-type", brokenApp + "    env:\n      LOG_LEVEL: {level: debug}\n      LOG_FORMAT: [json]\n",
		[]string{"nexios:app.env.LOG_LEVEL: expected a string, got a mapping", "nexios:app.env.LOG_FORMAT: expected a string, got a list"}},
	{"unknown-key-three-deep", brokenApp + "    probes:\n      liveness:\n        pathh: /health\n",
		[]string{`nexios:app.probes.liveness.pathh: unknown key; did you mean "path"?`}},
	{"list-item-wrong-type", brokenApp + "    volumes:\n      - name: data\n        mountPath: 5\n        size: 1Gi\n        accessMode: ReadWriteOnce\n",
		[]string{"nexios:app.volumes[0].mountPath: expected a string, got a number"}},
	{"list-item-unknown-key", brokenApp + "    volumes:\n      - name: data\n        mountPath: /data\n        size: 1Gi\n        accessMode: ReadWriteOnce\n        sizee: 2Gi\n",
		[]string{`nexios:app.volumes[0].sizee: unknown key; did you mean "size"?`}},
	{"list-where-a-list-belongs", brokenApp + "    serviceAccount:\n      rules:\n        - apiGroups: [\"\"]\n          resources: [pods]\n          verbs: get\n",
		[]string{"nexios:app.serviceAccount.rules[0].verbs: expected a list, got a string"}},
	{"impossible-replica-range", brokenApp + "    autoscaling:\n      enabled: true\n      minReplicas: 5\n      maxReplicas: 2\n",
		[]string{"nexios:app.autoscaling.maxReplicas: (2) is below minReplicas (5)"}},
	{"limit-below-request", brokenApp + "    resources:\n      requests:\n        memory: 2Gi\n      limits:\n        memory: 1Gi\n",
		[]string{"nexios:app.resources.limits.memory: (1Gi) is below the request (2Gi)"}},
	{"malformed-cpu-quantity", brokenApp + "    resources:\n      requests:\n        cpu: lots\n",
		[]string{`nexios:app.resources.requests.cpu: "lots" is not a Kubernetes quantity`}},
	{"port-out-of-range", brokenApp + "    port: 70000\n",
		[]string{"nexios:app.port: must be between 1 and 65535, got 70000"}},
	{"probe-period-negative", brokenApp + "    probes:\n      readiness:\n        periodSeconds: -5\n",
		[]string{"nexios:app.probes.readiness.periodSeconds: must be at least 1, got -5"}},
	{"surge-a-fraction", brokenApp + "    rollout:\n      maxSurge: 1.5\n",
		[]string{"nexios:app.rollout.maxSurge: expected a whole number of pods such as 1 or a percentage"}},
	{"ingress-without-host", brokenApp + "    ingress:\n      enabled: true\n",
		[]string{"nexios:app.ingress.host: is required when the ingress is enabled"}},
	{"image-missing", "  nexios:environment: dev\n  nexios:app:\n    replicas: 2\n",
		[]string{"nexios:app.image: is required; set it with `pulumi config set --path app.image"}},
	{"malformed-retention-duration", brokenApp + "  nexios:monitoring:\n    retention: 15 days\n",
		[]string{`nexios:monitoring.retention: "15 days" is not a Prometheus duration`}},
	{"malformed-storage-quantity", brokenApp + "  nexios:monitoring:\n    storageSize: big\n",
		[]string{`nexios:monitoring.storageSize: "big" is not a Kubernetes quantity`}},
	{"alert-threshold-wrong-type", brokenApp + "  nexios:monitoring:\n    alerts:\n      errorRatePercent: high\n",
		[]string{"nexios:monitoring.alerts.errorRatePercent: expected a number, got a string"}},
	{"alert-threshold-out-of-range", brokenApp + "  nexios:monitoring:\n    alerts:\n      errorRatePercent: 150\n",
		[]string{"nexios:monitoring.alerts.errorRatePercent: must be above 0 and at most 100, got 150"}},
	{"unknown-monitoring-mode", brokenApp + "  nexios:monitoring:\n    mode: helm\n",
		[]string{`nexios:monitoring.mode: "helm" is not one of bundled`}},
	{"unknown-key-in-logging", brokenApp + "  nexios:logging:\n    enabled: true\n    elasticsearch:\n      storagesize: 5Gi\n",
		[]string{`nexios:logging.elasticsearch.storagesize: unknown key; did you mean "storageSize"?`}},
	{"two-elasticsearch-nodes", brokenApp + "  nexios:logging:\n    enabled: true\n    elasticsearch:\n      replicas: 2\n",
		[]string{"nexios:logging.elasticsearch.replicas: must be 1 or at least 3"}},
	{"postgres-beside-database-url", brokenApp + "  nexios:databaseUrl: postgresql://app:pw@db:5432/app\n",
		[]string{"nexios:databaseUrl: is stored in plain text", "nexios:postgres.enabled: is true while nexios:databaseUrl is set"}},
	{"postgres-bad-sizes", brokenApp + "  nexios:postgres:\n    storageSize: big\n    storageClass: Fast_SSD\n",
		[]string{`nexios:postgres.storageSize: "big" is not a Kubernetes quantity`, `nexios:postgres.storageClass: "Fast_SSD" is not a valid StorageClass name`}},
	{"postgres-bad-backup", brokenApp + "  nexios:postgres:\n    backup:\n      enabled: true\n      schedule: every night\n      retention: 0\n      storageSize: 10 gigs\n",
		[]string{`nexios:postgres.backup.schedule: "every night" is not a cron schedule: 2 fields, want 5`, "nexios:postgres.backup.retention: must be at least 1",
			`nexios:postgres.backup.storageSize: "10 gigs" is not a Kubernetes quantity`}},
	{"prod-without-database", "  nexios:environment: prod\n  nexios:app:\n    image: ghcr.io/nexios-labs/nexios-app:1.0.0\n",
		[]string{"nexios:databaseUrl: is required in prod; set it with `pulumi config set --secret nexios:databaseUrl"}},
}

// problemCount reads the number of problems from deploy's first error line.
var problemCount = regexp.MustCompile(`(\d+) configuration problems? \(nothing was changed\)`)

// TestBrokenStackFiles runs the built command on broken stack files, as a user would: each is rejected
// with exit 2 naming every problem by its full key path, before the backend or a cluster is touched.
func TestBrokenStackFiles(t *testing.T) {
	ctx, _, p := pipelineTest(t)
	// No test starts it: the command must not either.
	cluster := localcluster.Cluster{Toolchain: toolchain.Toolchain{Root: p.project}, Name: pipelineCluster, Log: testLog{t}}
	if len(brokenStacks) < 20 {
		t.Fatalf("%d broken stack files, want at least 20", len(brokenStacks))
	}
	for _, bs := range brokenStacks {
		t.Run(bs.name, func(t *testing.T) {
			file := filepath.Join(p.project, "Pulumi."+bs.name+".yaml")
			if err := os.WriteFile(file, []byte("config:\n"+bs.config), 0o644); err != nil {
				t.Fatalf("writing %s: %v", file, err)
			}
			for _, command := range []string{"preview", "up"} {
				r := p.run(ctx, command, bs.name)
				if r.code != 2 {
					t.Fatalf("%s: exit %d, want 2:\n%s", command, r.code, r.stderr)
				}
				for _, want := range bs.want {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("%s: stderr lacks %q:\n%s", command, want, r.stderr)
					}
				}
				if got := reportedProblems(r.stderr); got != len(bs.want) {
					t.Errorf("%s: %d problems reported, want exactly %d:\n%s", command, got, len(bs.want), r.stderr)
				}
				if traces := backendTraces(t, p.project, bs.name); len(traces) > 0 {
					t.Errorf("%s: the backend holds the rejected stack: %v", command, traces)
				}
			}
		})
	}
	if state, err := cluster.Status(ctx); err != nil || state != localcluster.Absent {
		t.Errorf("cluster %s after the broken stacks: %v %v, want absent", pipelineCluster, state, err)
	}
}

// devSalt is the scratch project's dev stack file's encryption salt, whole (v1:SALT:...).
func devSalt(t *testing.T, p *pipeline) string {
	t.Helper()
	dev, err := os.ReadFile(filepath.Join(p.project, "Pulumi.dev.yaml"))
	if err != nil {
		t.Fatalf("reading the dev stack file: %v", err)
	}
	salt := regexp.MustCompile(`(?m)^encryptionsalt: (v1:[^:]+:.*)$`).FindSubmatch(dev)
	if salt == nil {
		t.Fatal("the dev stack file has no passphrase salt")
	}
	return string(salt[1])
}

// encryptForDev encrypts value as the dev stack file's secure values are, with the dev profile's
// passphrase on the local cluster (the empty one), for a stack file's `secure:` entry.
func encryptForDev(ctx context.Context, t *testing.T, p *pipeline, value string) string {
	t.Helper()
	salt, _, _ := strings.Cut(strings.TrimPrefix(devSalt(t, p), "v1:"), ":")
	key, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		t.Fatalf("the dev stack file's salt: %v", err)
	}
	cipher, err := config.NewSymmetricCrypterFromPassphrase("", key).EncryptValue(ctx, value)
	if err != nil {
		t.Fatalf("encrypting: %v", err)
	}
	return cipher
}

// TestBrokenSecretValue is a broken stack file whose mistake is inside an encrypted value: the
// stack files' own check cannot read it, so the command opens the stack (which creates it in the
// backend), decrypts, refuses, and must take the stack out again, leaving no trace.
func TestBrokenSecretValue(t *testing.T) {
	ctx, _, p := pipelineTest(t)
	cipher, salt := encryptForDev(ctx, t, p, "not a url"), devSalt(t, p)
	const stack = "broken-secret"
	file := brokenApp + "  nexios:monitoring:\n    alertmanager:\n      webhookUrl:\n        secure: " + cipher + "\n"
	if err := os.WriteFile(filepath.Join(p.project, "Pulumi."+stack+".yaml"), []byte("config:\n"+file+"encryptionsalt: "+salt+"\n"), 0o644); err != nil {
		t.Fatalf("writing the stack file: %v", err)
	}
	for _, command := range []string{"preview", "up"} {
		r := p.run(ctx, command, stack)
		if r.code != 2 || !strings.Contains(r.stderr, "nexios:monitoring.alertmanager.webhookUrl: is not an http(s) URL") {
			t.Errorf("%s: exit %d, want 2 naming the secret's key:\n%s", command, r.code, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "not a url") {
			t.Errorf("%s printed the secret's value:\n%s%s", command, r.stdout, r.stderr)
		}
		if traces := backendTraces(t, p.project, stack); len(traces) > 0 {
			t.Errorf("%s: the backend holds the rejected stack: %v", command, traces)
		}
	}
}

func reportedProblems(stderr string) int {
	m := problemCount.FindStringSubmatch(stderr)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1]) // the pattern admits digits only
	return n
}
