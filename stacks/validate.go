package stacks

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nexios-labs/nexios-k8s/components/appmetrics"
	"github.com/nexios-labs/nexios-k8s/components/database"
)

var (
	dnsLabel       = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsName        = regexp.MustCompile(`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	envName        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	configFileName = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	metricName     = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	digestRef      = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
	promDuration   = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	promSize       = regexp.MustCompile(`^[0-9]+(B|KB|MB|GB|TB|PB|EB)$`)
	percentOrCount = regexp.MustCompile(`^([0-9]+)(%?)$`)
)

// ManagedEnv are the environment variables the program sets itself; configuring them directly would
// bypass the stack's Secret.
var ManagedEnv = []string{"DATABASE_URL", "SECRET_KEY"}

// validate appends every problem in c to ps, each naming its full key path and how to fix it.
func (c *Config) validate(ps *problems) {
	key := func(path string) string { return Namespace + ":" + path }
	c.validateTarget(ps, key)
	c.validateApp(ps, key)
	c.validateDatabase(ps, key)
	c.validatePostgres(ps, key)
	c.validateMonitoring(ps, key)
	c.validateLogging(ps, key)
}

func (c *Config) validateTarget(ps *problems, key func(string) string) {
	t := c.Target
	if t.RenderYAMLTo != "" && (t.Kubeconfig != "" || t.Context != "") {
		ps.add(key("target.renderYamlTo"), "cannot be combined with target.kubeconfig or target.context: "+
			"rendering writes files instead of talking to a cluster; remove one of them")
	}
	checkDNSLabel(ps, key("target.namespace"), t.Namespace)
}

func (c *Config) validateApp(ps *problems, key func(string) string) {
	a := &c.App
	checkDNSLabel(ps, key("app.name"), a.Name)
	if len(a.Name) > 40 {
		ps.add(key("app.name"), "%q is longer than 40 characters; generated resource names append suffixes to it", a.Name)
	}
	c.validateImage(ps, key)
	if !a.Autoscaling.Enabled && a.Replicas < 1 {
		ps.add(key("app.replicas"), "must be at least 1, got %d", a.Replicas)
	}
	checkPort(ps, key("app.port"), a.Port)
	if a.Metrics.Port != 0 {
		checkPort(ps, key("app.metrics.port"), a.Metrics.Port)
	}
	checkPath(ps, key("app.metrics.path"), a.Metrics.Path)

	c.validateEnv(ps, key)
	for name := range a.ConfigFiles {
		if !configFileName.MatchString(name) {
			ps.add(key("app.configFiles."+name), "is not a valid file name (letters, digits, '-', '_', '.')")
		}
	}
	checkPath(ps, key("app.configMountPath"), a.ConfigMountPath)

	checkResources(ps, key("app.resources"), a.Resources)
	for _, p := range []struct {
		name  string
		probe Probe
	}{{"liveness", a.Probes.Liveness}, {"readiness", a.Probes.Readiness}, {"startup", a.Probes.Startup}} {
		checkProbe(ps, key("app.probes."+p.name), p.probe)
	}
	c.validateRollout(ps, key)
	c.validateAutoscaling(ps, key)
	c.validateMetricDefinitions(ps, key)
	if a.Disruption.Enabled {
		if n, ok := checkPercentOrCount(ps, key("app.disruptionBudget.maxUnavailable"), string(a.Disruption.MaxUnavailable)); ok && n == 0 {
			ps.add(key("app.disruptionBudget.maxUnavailable"), "0 would block every node drain; use at least 1")
		}
	}
	switch a.HighAvailability.AntiAffinity {
	case "none", "preferred", "required":
	default:
		ps.add(key("app.highAvailability.antiAffinity"), "%q is not one of none, preferred, required", a.HighAvailability.AntiAffinity)
	}
	c.validateService(ps, key)
	c.validateIngress(ps, key)
	c.validateNetworkPolicy(ps, key)
	c.validateVolumes(ps, key)
	c.validateQuota(ps, key)
	for i, r := range a.ServiceAccount.Rules {
		path := key(fmt.Sprintf("app.serviceAccount.rules[%d]", i))
		if len(r.Resources) == 0 || len(r.Verbs) == 0 {
			ps.add(path, "needs resources and verbs (apiGroups [\"\"] for the core group)")
		}
		for _, v := range r.Verbs {
			if v == "*" {
				ps.add(path+".verbs", "\"*\" grants every verb; list the verbs the app needs")
			}
		}
	}
}

func (c *Config) validateImage(ps *problems, key func(string) string) {
	image := c.App.Image
	if image == "" {
		ps.add(key("app.image"), "is required; set it with `pulumi config set --path app.image registry.example.com/nexios-app:1.0.0 -s %s`", c.Stack)
		return
	}
	if strings.ContainsAny(image, " \t\n") || repoOf(image) != strings.ToLower(repoOf(image)) {
		ps.add(key("app.image"), "%q is not a valid image reference (repository names are lowercase, no spaces)", image)
		return
	}
	if digestRef.MatchString(image) {
		return
	}
	tag := tagOf(image)
	switch {
	case tag == "":
		ps.add(key("app.image"), "%q has no tag or digest; pin one, e.g. %s:1.0.0 or %s@sha256:<digest>", image, image, image)
	case tag == "latest" && c.Environment == Prod:
		ps.add(key("app.image"), "%q uses the mutable tag latest, which prod refuses: rollbacks and audits need a fixed version; pin a version tag or a digest", image)
	}
}

// repoOf and tagOf split "host:port/path/name:tag": a colon after the last slash starts the tag.
func repoOf(image string) string {
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[:colon]
	}
	return image
}

func tagOf(image string) string {
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[colon+1:]
	}
	return ""
}

func (c *Config) validateEnv(ps *problems, key func(string) string) {
	a := &c.App
	for name := range a.Env {
		checkEnvName(ps, key("app.env."+name), name)
		if _, dup := a.SecretEnv[name]; dup {
			ps.add(key("app.env."+name), "is also set in app.secretEnv; keep it in one of them")
		}
	}
	for name := range a.SecretEnv {
		checkEnvName(ps, key("app.secretEnv."+name), name)
	}
	if len(a.SecretEnv) > 0 && !c.secretKeys["app"] {
		for _, name := range slices.Sorted(maps.Keys(a.SecretEnv)) {
			ps.add(key("app.secretEnv."+name), "is stored in plain text; set it encrypted with "+
				"`pulumi config set --secret --path 'app.secretEnv.%s' <value> -s %s`", name, c.Stack)
		}
	}
}

func checkEnvName(ps *problems, path, name string) {
	if !envName.MatchString(name) {
		ps.add(path, "%q is not a valid environment variable name (letters, digits, '_', not starting with a digit)", name)
	}
	for _, managed := range ManagedEnv {
		if name == managed {
			ps.add(path, "%s is set by the program from the stack's Secret; remove it here (DATABASE_URL comes from nexios:databaseUrl or the in-cluster PostgreSQL of nexios:postgres, SECRET_KEY is generated)", name)
		}
	}
}

func (c *Config) validateRollout(ps *problems, key func(string) string) {
	r := c.App.Rollout
	if n, ok := checkPercentOrCount(ps, key("app.rollout.maxSurge"), string(r.MaxSurge)); ok && n == 0 {
		ps.add(key("app.rollout.maxSurge"), "must be above 0: maxUnavailable is fixed at 0, so a rollout needs room to surge")
	}
	if r.RevisionHistoryLimit < 1 {
		ps.add(key("app.rollout.revisionHistoryLimit"), "must be at least 1 to keep a revision to roll back to, got %d", r.RevisionHistoryLimit)
	}
	if r.MinReadySeconds < 0 {
		ps.add(key("app.rollout.minReadySeconds"), "must not be negative, got %d", r.MinReadySeconds)
	}
	if r.ProgressDeadlineSeconds <= r.MinReadySeconds {
		ps.add(key("app.rollout.progressDeadlineSeconds"), "must be greater than minReadySeconds (%d), got %d", r.MinReadySeconds, r.ProgressDeadlineSeconds)
	}
	if r.PreStopSleepSeconds < 0 || r.PreStopSleepSeconds >= r.TerminationGracePeriodSeconds {
		ps.add(key("app.rollout.preStopSleepSeconds"), "must be between 0 and terminationGracePeriodSeconds (%d), got %d", r.TerminationGracePeriodSeconds, r.PreStopSleepSeconds)
	}
	if r.BakeSeconds < minBakeSeconds || r.BakeSeconds > maxBakeSeconds {
		ps.add(key("app.rollout.bakeSeconds"), "must be between %d (two of Prometheus' 30-second scrapes) and %d (an hour), got %d", minBakeSeconds, maxBakeSeconds, r.BakeSeconds)
	}
}

// The bounds of app.rollout.bakeSeconds: a shorter bake cannot see a scrape of the new pods, and a
// longer one holds a pipeline for longer than anyone watches it.
const (
	minBakeSeconds = 60
	maxBakeSeconds = 3600
)

func (c *Config) validateAutoscaling(ps *problems, key func(string) string) {
	h := c.App.Autoscaling
	if !h.Enabled {
		return
	}
	if h.MinReplicas < 1 {
		ps.add(key("app.autoscaling.minReplicas"), "must be at least 1, got %d", h.MinReplicas)
	}
	if h.MaxReplicas < h.MinReplicas {
		ps.add(key("app.autoscaling.maxReplicas"), "(%d) is below minReplicas (%d); raise maxReplicas or lower minReplicas", h.MaxReplicas, h.MinReplicas)
	}
	if h.CPUUtilization < 0 || h.CPUUtilization > 1000 {
		ps.add(key("app.autoscaling.cpuUtilization"), "must be a percentage of requests between 1 and 1000, or 0 for off; got %d", h.CPUUtilization)
	}
	if h.MemoryUtilization < 0 || h.MemoryUtilization > 1000 {
		ps.add(key("app.autoscaling.memoryUtilization"), "must be a percentage of requests between 1 and 1000, or 0 for off; got %d", h.MemoryUtilization)
	}
	if h.CPUUtilization == 0 && h.MemoryUtilization == 0 && len(h.CustomMetrics) == 0 {
		ps.add(key("app.autoscaling"), "is enabled with no metric; set cpuUtilization, memoryUtilization or customMetrics")
	}
	defs := h.Definitions()
	for _, name := range slices.Sorted(maps.Keys(h.CustomMetrics)) {
		path := key("app.autoscaling.customMetrics." + name)
		if !metricName.MatchString(name) {
			ps.add(path, "%q is not a valid Prometheus metric name", name)
		} else if _, defined := defs[name]; !defined {
			// Only the monitoring stack records and serves a scaling metric, and only a built-in or
			// defined one: any other name would leave the HPA waiting for a metric that never comes.
			// A defined one has its own checks, at its own keys (validateMetricDefinitions).
			if _, err := appmetrics.Resolve(name, defs); err != nil {
				ps.addReading(path, key("app.autoscaling.metricDefinitions."+name), "%v", err)
			}
		}
		if v, err := parseQuantity(string(h.CustomMetrics[name])); err != nil {
			ps.add(path, "%v", err)
		} else if v <= 0 {
			ps.add(path, "target must be above 0, got %s", h.CustomMetrics[name])
		}
	}
	b := h.Behavior
	checkRange(ps, key("app.autoscaling.behavior.scaleUpStabilizationSeconds"), b.ScaleUpStabilizationSeconds, 0, 3600)
	checkRange(ps, key("app.autoscaling.behavior.scaleDownStabilizationSeconds"), b.ScaleDownStabilizationSeconds, 0, 3600)
	checkRange(ps, key("app.autoscaling.behavior.scaleUpPercent"), b.ScaleUpPercent, 1, 1000)
	checkRange(ps, key("app.autoscaling.behavior.scaleDownPercent"), b.ScaleDownPercent, 1, 100)
	checkRange(ps, key("app.autoscaling.behavior.periodSeconds"), b.PeriodSeconds, 1, 1800)
}

// validateMetricDefinitions checks the stack's own scaling metrics whether or not autoscaling is on: a
// definition is read only through customMetrics, so one that is wrong or unused would otherwise wait
// silently for the day autoscaling is switched on.
func (c *Config) validateMetricDefinitions(ps *problems, key func(string) string) {
	h := c.App.Autoscaling
	for _, name := range slices.Sorted(maps.Keys(h.MetricDefinitions)) {
		d := h.MetricDefinitions[name]
		path := key("app.autoscaling.metricDefinitions." + name)
		if err := appmetrics.ValidateName(name); err != nil {
			ps.add(path, "%v", err)
		}
		if err := appmetrics.ValidateQuery(name, d.Query); err != nil {
			ps.add(path+".query", "%v", err)
		}
		if d.Unit != "" {
			if err := appmetrics.ValidateUnit(d.Unit); err != nil {
				ps.add(path+".unit", "%v", err)
			}
		}
		if _, used := h.CustomMetrics[name]; !used {
			ps.addReading(path, key("app.autoscaling.customMetrics."+name),
				"declared but unused: add a target under app.autoscaling.customMetrics.%s or remove it", name)
		}
	}
}

func (c *Config) validateService(ps *problems, key func(string) string) {
	s := c.App.Service
	switch s.Type {
	case "ClusterIP", "NodePort", "LoadBalancer":
	default:
		ps.add(key("app.service.type"), "%q is not one of ClusterIP, NodePort, LoadBalancer", s.Type)
	}
	checkPort(ps, key("app.service.port"), s.Port)
	if s.NodePort != 0 {
		if s.Type == "ClusterIP" {
			ps.add(key("app.service.nodePort"), "is only used with type NodePort or LoadBalancer; remove it or change app.service.type")
		}
		checkRange(ps, key("app.service.nodePort"), s.NodePort, 30000, 32767)
	}
}

func (c *Config) validateIngress(ps *problems, key func(string) string) {
	in := c.App.Ingress
	if !in.Enabled {
		return
	}
	if in.Host == "" {
		ps.add(key("app.ingress.host"), "is required when the ingress is enabled, e.g. `pulumi config set --path app.ingress.host app.example.com -s %s`", c.Stack)
	} else if !dnsName.MatchString(in.Host) {
		ps.add(key("app.ingress.host"), "%q is not a valid DNS name", in.Host)
	}
	checkPath(ps, key("app.ingress.path"), in.Path)
	if in.ClassName == "" {
		ps.add(key("app.ingress.className"), "is required (the cluster's IngressClass, e.g. nginx)")
	}
	if in.TLS.SecretName != "" && !dnsLabel.MatchString(strings.ReplaceAll(in.TLS.SecretName, ".", "-")) {
		ps.add(key("app.ingress.tls.secretName"), "%q is not a valid Secret name", in.TLS.SecretName)
	}
	if !in.TLS.Enabled && (in.TLS.SecretName != "" || in.TLS.ClusterIssuer != "") {
		ps.add(key("app.ingress.tls.enabled"), "is false while tls.secretName or tls.clusterIssuer is set; set enabled: true or remove them")
	}
}

func (c *Config) validateNetworkPolicy(ps *problems, key func(string) string) {
	n := c.App.NetworkPolicy
	if !n.Enabled {
		return
	}
	checkDNSLabel(ps, key("app.networkPolicy.ingressControllerNamespace"), n.IngressControllerNamespace)
	for i, ns := range n.AllowFromNamespaces {
		checkDNSLabel(ps, key(fmt.Sprintf("app.networkPolicy.allowFromNamespaces[%d]", i)), ns)
	}
	for i, p := range n.EgressPorts {
		checkPort(ps, key(fmt.Sprintf("app.networkPolicy.egressPorts[%d]", i)), p)
	}
}

func (c *Config) validateVolumes(ps *problems, key func(string) string) {
	a := c.App
	seen := map[string]bool{}
	for i, v := range a.Volumes {
		path := key(fmt.Sprintf("app.volumes[%d]", i))
		checkDNSLabel(ps, path+".name", v.Name)
		if seen[v.Name] {
			ps.add(path+".name", "%q is used by another volume", v.Name)
		}
		seen[v.Name] = true
		checkPath(ps, path+".mountPath", v.MountPath)
		if v.MountPath == "/tmp" || v.MountPath == a.ConfigMountPath {
			ps.add(path+".mountPath", "%s is already mounted by the program; pick another path", v.MountPath)
		}
		if _, err := parseQuantity(v.Size); err != nil {
			ps.add(path+".size", "%v", err)
		}
		switch v.AccessMode {
		case "ReadWriteOnce", "ReadWriteOncePod":
			if a.maxPods() > 1 {
				ps.add(path+".accessMode", "%s lets only one node mount the volume, but the app runs up to %d pods; use ReadWriteMany "+
					"(and a storage class that supports it) or run a single replica", v.AccessMode, a.maxPods())
			}
		case "ReadWriteMany", "ReadOnlyMany":
		case "":
			ps.add(path+".accessMode", "is required: one of ReadWriteOnce, ReadWriteOncePod (one pod at most), ReadWriteMany, ReadOnlyMany")
		default:
			ps.add(path+".accessMode", "%q is not one of ReadWriteOnce, ReadWriteOncePod, ReadWriteMany, ReadOnlyMany", v.AccessMode)
		}
	}
}

// maxPods is the most pods of the app that can run at once outside a rollout.
func (a *App) maxPods() int {
	if a.Autoscaling.Enabled {
		return a.Autoscaling.MaxReplicas
	}
	return a.Replicas
}

func (c *Config) validateQuota(ps *problems, key func(string) string) {
	q := c.App.Quota
	if !q.Enabled {
		return
	}
	// A rollout runs up to maxPods plus the surge at once; the quota must admit all of them.
	pods := c.App.maxPods() + surgePods(string(c.App.Rollout.MaxSurge), c.App.maxPods())
	if q.Pods < pods {
		ps.add(key("app.quota.pods"), "(%d) admits fewer pods than a rollout at maximum scale needs (%d)", q.Pods, pods)
	}
	for _, f := range []struct{ name, quota, perPod string }{
		{"requestsCpu", q.RequestsCPU, c.App.Resources.Requests.CPU},
		{"requestsMemory", q.RequestsMemory, c.App.Resources.Requests.Memory},
		{"limitsCpu", q.LimitsCPU, c.App.Resources.Limits.CPU},
		{"limitsMemory", q.LimitsMemory, c.App.Resources.Limits.Memory},
	} {
		total, err := parseQuantity(f.quota)
		if err != nil {
			ps.add(key("app.quota."+f.name), "%v", err)
			continue
		}
		if each, err := parseQuantity(f.perPod); err == nil && each*float64(pods) > total {
			ps.add(key("app.quota."+f.name), "%s is below what %d pods of %s need; raise it or lower the app's resources or maxReplicas", f.quota, pods, f.perPod)
		}
	}
}

// surgePods resolves a maxSurge ("25%" or "2") against a replica count the way Kubernetes does (rounding up).
func surgePods(maxSurge string, replicas int) int {
	m := percentOrCount.FindStringSubmatch(maxSurge)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	if m[2] == "%" {
		return (replicas*n + 99) / 100
	}
	return n
}

func (c *Config) validateDatabase(ps *problems, key func(string) string) {
	d := c.Database
	fix := fmt.Sprintf("`pulumi config set --secret %s:%s 'postgresql://USER:PASSWORD@HOST:5432/DB' -s %s`", Namespace, keyDatabaseURL, c.Stack)
	if d.URL == "" {
		if c.Environment == Prod && !c.Postgres.Enabled {
			ps.add(key(keyDatabaseURL), "is required in prod; set it with %s", fix)
		}
		return
	}
	if !d.URLIsSecret {
		ps.add(key(keyDatabaseURL), "is stored in plain text; remove it with `pulumi config rm %s:%s -s %s`, then set it encrypted with %s",
			Namespace, keyDatabaseURL, c.Stack, fix)
	}
	if u, err := url.Parse(d.URL); err != nil || u.Scheme == "" {
		// The value is secret: never echo it.
		ps.add(key(keyDatabaseURL), "is not a URL with a scheme (e.g. postgresql://...); set it again with %s", fix)
	}
}

func (c *Config) validatePostgres(ps *problems, key func(string) string) {
	p := c.Postgres
	if !p.Enabled {
		return
	}
	if c.Database.URL != "" {
		// Both would be the app's DATABASE_URL: refuse rather than pick one silently.
		ps.add(key("postgres.enabled"), "is true while %s:%s is set, and the app has one DATABASE_URL: to use the in-cluster PostgreSQL remove the URL "+
			"with `pulumi config rm %s:%s -s %s`; to keep the configured database turn it off with `pulumi config set --path %s:postgres.enabled false -s %s`",
			Namespace, keyDatabaseURL, Namespace, keyDatabaseURL, c.Stack, Namespace, c.Stack)
	}
	checkSize(ps, key("postgres.storageSize"), p.StorageSize)
	checkStorageClass(ps, key("postgres.storageClass"), p.StorageClass)
	checkResources(ps, key("postgres.resources"), p.Resources)
	b := p.Backup
	if !b.Enabled {
		return
	}
	if err := checkCron(b.Schedule); err != nil {
		ps.add(key("postgres.backup.schedule"), "%q is not a cron schedule: %v (five fields, minute hour day-of-month month day-of-week, in UTC, e.g. \"0 2 * * *\" daily at 02:00, or @daily)", b.Schedule, err)
	}
	if b.Retention < 1 {
		ps.add(key("postgres.backup.retention"), "must be at least 1 (how many dumps are kept), got %d", b.Retention)
	}
	checkSize(ps, key("postgres.backup.storageSize"), b.StorageSize)
	if b.S3.Enabled() {
		c.validateBackupS3(ps, key)
	}
}

// validateBackupS3 checks the backup bucket's settings: set one and the service's endpoint, the bucket,
// the region and a key pair are all needed, the secret key encrypted.
func (c *Config) validateBackupS3(ps *problems, key func(string) string) {
	s := c.Postgres.Backup.S3
	set := func(field, example string) string {
		return fmt.Sprintf("`pulumi config set --path %s:postgres.backup.s3.%s %s -s %s`", Namespace, field, example, c.Stack)
	}
	required := []struct{ field, value, example string }{
		{"endpoint", s.Endpoint, "https://s3.eu-west-1.amazonaws.com"},
		{"bucket", s.Bucket, "my-backups"},
		{"region", s.Region, "eu-west-1"},
		{"accessKeyId", s.AccessKeyID, "AKIA..."},
	}
	for _, r := range required {
		if r.value == "" {
			ps.add(key("postgres.backup.s3."+r.field), "is required when the backups go into a bucket; set it with %s", set(r.field, r.example))
		}
	}
	secretFix := fmt.Sprintf("`pulumi config set --secret --path %s:postgres.backup.s3.secretAccessKey <key> -s %s`", Namespace, c.Stack)
	switch {
	case s.SecretAccessKey == "":
		ps.add(key("postgres.backup.s3.secretAccessKey"), "is required when the backups go into a bucket; set it encrypted with %s", secretFix)
	case !c.secretKeys["postgres"]:
		ps.add(key("postgres.backup.s3.secretAccessKey"), "is stored in plain text; set it encrypted with %s", secretFix)
	}
	for _, c := range []struct {
		field, value string
		check        func(string) error
	}{
		{"endpoint", s.Endpoint, database.CheckEndpoint}, {"bucket", s.Bucket, database.CheckBucket},
		{"prefix", s.Prefix, database.CheckPrefix}, {"region", s.Region, database.CheckRegion},
	} {
		if c.value == "" && c.field != "prefix" {
			continue // reported as required above
		}
		if err := c.check(c.value); err != nil {
			ps.add(key("postgres.backup.s3."+c.field), "%v", err)
		}
	}
}

// checkSize accepts a positive Kubernetes quantity, the size of a volume claim.
func checkSize(ps *problems, path, value string) {
	v, err := parseQuantity(value)
	switch {
	case err != nil:
		ps.add(path, "%v", err)
	case v <= 0:
		ps.add(path, "must be above 0, got %s", value)
	}
}

// checkStorageClass accepts an empty class (the cluster's default) or a valid StorageClass name.
func checkStorageClass(ps *problems, path, value string) {
	if value != "" && (len(value) > 253 || !dnsName.MatchString(value)) {
		ps.add(path, "%q is not a valid StorageClass name", value)
	}
}

func (c *Config) validateMonitoring(ps *problems, key func(string) string) {
	m := c.Monitoring
	checkDNSLabel(ps, key("monitoring.namespace"), m.Namespace)
	if !m.Enabled {
		return
	}
	switch m.Mode {
	case "bundled", "operator":
	default:
		ps.add(key("monitoring.mode"), "%q is not one of bundled (deploy Prometheus) or operator (use an existing Prometheus Operator)", m.Mode)
	}
	if !promDuration.MatchString(m.Retention) {
		ps.add(key("monitoring.retention"), "%q is not a Prometheus duration such as 2d or 15d", m.Retention)
	}
	if m.RetentionSize != "" && !promSize.MatchString(m.RetentionSize) {
		ps.add(key("monitoring.retentionSize"), "%q is not a Prometheus size such as 1GB or 45GB", m.RetentionSize)
	}
	if m.StorageSize != "" {
		if _, err := parseQuantity(m.StorageSize); err != nil {
			ps.add(key("monitoring.storageSize"), "%v", err)
		}
	}
	if m.Alertmanager.Replicas < 1 {
		ps.add(key("monitoring.alertmanager.replicas"), "must be at least 1, got %d", m.Alertmanager.Replicas)
	}
	checkRange(ps, key("monitoring.adapter.replicas"), m.Adapter.Replicas, 1, 10)
	if m.Mode == "bundled" {
		checkResources(ps, key("monitoring.prometheus.resources"), m.Prometheus.Resources)
	}
	for name, v := range map[string]string{"webhookUrl": m.Alertmanager.WebhookURL, "slackWebhookUrl": m.Alertmanager.SlackWebhookURL} {
		if v == "" {
			continue
		}
		path := key("monitoring.alertmanager." + name)
		if !c.secretKeys["monitoring"] {
			ps.add(path, "is stored in plain text; set it encrypted with `pulumi config set --secret --path 'monitoring.alertmanager.%s' <url> -s %s`", name, c.Stack)
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			ps.add(path, "is not an http(s) URL")
		}
	}
	a := m.Alerts
	if a.ErrorRatePercent <= 0 || a.ErrorRatePercent > 100 {
		ps.add(key("monitoring.alerts.errorRatePercent"), "must be above 0 and at most 100, got %g", a.ErrorRatePercent)
	}
	if a.LatencyP95Seconds <= 0 {
		ps.add(key("monitoring.alerts.latencyP95Seconds"), "must be above 0, got %g", a.LatencyP95Seconds)
	}
	checkRange(ps, key("monitoring.alerts.restartsPerHour"), a.RestartsPerHour, 1, 1000)
	checkRange(ps, key("monitoring.alerts.pvcUsagePercent"), a.PVCUsagePercent, 1, 100)
	checkRange(ps, key("monitoring.alerts.hpaAtMaxForMinutes"), a.HPAAtMaxForMinutes, 1, 1440)
	checkRange(ps, key("monitoring.alerts.errorRateForMinutes"), a.ErrorRateForMinutes, 1, 1440)
	checkRange(ps, key("monitoring.alerts.latencyForMinutes"), a.LatencyForMinutes, 1, 1440)
	if m.Grafana.IngressHost != "" && !dnsName.MatchString(m.Grafana.IngressHost) {
		ps.add(key("monitoring.grafana.ingressHost"), "%q is not a valid DNS name", m.Grafana.IngressHost)
	}
}

func (c *Config) validateLogging(ps *problems, key func(string) string) {
	l := c.Logging
	checkDNSLabel(ps, key("logging.namespace"), l.Namespace)
	if !l.Enabled {
		return
	}
	if l.RetentionDays < 1 {
		ps.add(key("logging.retentionDays"), "must be at least 1, got %d", l.RetentionDays)
	}
	es := l.Elasticsearch
	if es.Replicas != 1 && es.Replicas < 3 {
		ps.add(key("logging.elasticsearch.replicas"), "must be 1 or at least 3: two master-eligible nodes cannot elect a master when one fails")
	}
	if _, err := parseQuantity(es.StorageSize); err != nil {
		ps.add(key("logging.elasticsearch.storageSize"), "%v", err)
	}
	checkResources(ps, key("logging.elasticsearch.resources"), es.Resources)
	if es.StorageClass != "" && (len(es.StorageClass) > 253 || !dnsName.MatchString(es.StorageClass)) {
		ps.add(key("logging.elasticsearch.storageClass"), "%q is not a valid StorageClass name", es.StorageClass)
	}
	if s := l.Snapshots; s.Enabled {
		if fields := strings.Fields(s.Schedule); len(fields) < 6 || len(fields) > 7 {
			ps.add(key("logging.snapshots.schedule"), "%q is not an Elasticsearch cron expression: 6 or 7 fields, seconds first (e.g. \"0 30 1 * * ?\", daily at 01:30 UTC)", s.Schedule)
		}
		if s.ExpireAfterDays < 1 {
			ps.add(key("logging.snapshots.expireAfterDays"), "must be at least 1, got %d", s.ExpireAfterDays)
		}
		if s.MinCount < 1 {
			ps.add(key("logging.snapshots.minCount"), "must be at least 1, got %d", s.MinCount)
		}
		if s.MaxCount < s.MinCount {
			ps.add(key("logging.snapshots.maxCount"), "must be at least minCount (%d), got %d", s.MinCount, s.MaxCount)
		}
		if _, err := parseQuantity(s.StorageSize); err != nil {
			ps.add(key("logging.snapshots.storageSize"), "%v", err)
		}
		if s.StorageClass != "" && (len(s.StorageClass) > 253 || !dnsName.MatchString(s.StorageClass)) {
			ps.add(key("logging.snapshots.storageClass"), "%q is not a valid StorageClass name", s.StorageClass)
		}
	}
	checkRange(ps, key("logging.kibana.replicas"), l.Kibana.Replicas, 1, 10)
	if l.Kibana.IngressHost != "" && !dnsName.MatchString(l.Kibana.IngressHost) {
		ps.add(key("logging.kibana.ingressHost"), "%q is not a valid DNS name", l.Kibana.IngressHost)
	}
}

func checkResources(ps *problems, path string, r Resources) {
	for _, q := range []struct {
		name             string
		request, limit   string
		requestKey, lKey string
	}{
		{"cpu", r.Requests.CPU, r.Limits.CPU, path + ".requests.cpu", path + ".limits.cpu"},
		{"memory", r.Requests.Memory, r.Limits.Memory, path + ".requests.memory", path + ".limits.memory"},
	} {
		request, reqErr := requiredQuantity(ps, q.requestKey, q.request)
		limit, limErr := requiredQuantity(ps, q.lKey, q.limit)
		if reqErr == nil && limErr == nil && limit < request {
			ps.add(q.lKey, "(%s) is below the request (%s); a limit must be at least its request", q.limit, q.request)
		}
	}
}

func requiredQuantity(ps *problems, path, value string) (float64, error) {
	if value == "" {
		err := fmt.Errorf("is required: every container sets requests and limits")
		ps.add(path, "%v", err)
		return 0, err
	}
	v, err := parseQuantity(value)
	if err != nil {
		ps.add(path, "%v", err)
		return 0, err
	}
	if v <= 0 {
		err = fmt.Errorf("must be above 0, got %s", value)
		ps.add(path, "%v", err)
	}
	return v, err
}

func checkProbe(ps *problems, path string, p Probe) {
	checkPath(ps, path+".path", p.Path)
	if p.InitialDelaySeconds < 0 {
		ps.add(path+".initialDelaySeconds", "must not be negative, got %d", p.InitialDelaySeconds)
	}
	if p.PeriodSeconds < 1 {
		ps.add(path+".periodSeconds", "must be at least 1, got %d", p.PeriodSeconds)
	}
	// Against a period that is itself wrong, the timeout is not judged: that would report one mistake twice.
	if p.TimeoutSeconds < 1 || (p.PeriodSeconds >= 1 && p.TimeoutSeconds > p.PeriodSeconds) {
		ps.add(path+".timeoutSeconds", "must be between 1 and periodSeconds (%d), got %d", p.PeriodSeconds, p.TimeoutSeconds)
	}
	if p.FailureThreshold < 1 {
		ps.add(path+".failureThreshold", "must be at least 1, got %d", p.FailureThreshold)
	}
}

// checkPercentOrCount accepts "3" or "25%" and returns the number.
func checkPercentOrCount(ps *problems, path, value string) (int, bool) {
	m := percentOrCount.FindStringSubmatch(value)
	if m == nil {
		ps.add(path, "%q is neither a count (1) nor a percentage (25%%)", value)
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	if m[2] == "%" && n > 100 {
		ps.add(path, "%q is above 100%%", value)
		return n, false
	}
	return n, true
}

func checkDNSLabel(ps *problems, path, value string) {
	if len(value) > 63 || !dnsLabel.MatchString(value) {
		ps.add(path, "%q is not a valid Kubernetes name (lowercase letters, digits and '-', at most 63 characters)", value)
	}
}

func checkPath(ps *problems, path, value string) {
	if !strings.HasPrefix(value, "/") {
		ps.add(path, "%q must be an absolute path starting with /", value)
	}
}

func checkPort(ps *problems, path string, port int) {
	checkRange(ps, path, port, 1, 65535)
}

func checkRange(ps *problems, path string, value, lo, hi int) {
	if value < lo || value > hi {
		ps.add(path, "must be between %d and %d, got %d", lo, hi, value)
	}
}
