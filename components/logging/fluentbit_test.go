package logging

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"
)

// fluentBit40Keys are the keys Fluent Bit 4.0's documentation lists for the sections and plugins
// the configuration uses (docs.fluentbit.io/manual/4.0: YAML service section, tail input,
// kubernetes filter, Elasticsearch output, and the storage.* and tls.* keys every plugin takes).
// No fluent-bit binary can be installed here (Debian bookworm has no package), so `--dry-run` is not
// run; this is the structural check instead.
var fluentBit40Keys = map[string][]string{
	"service": {"flush", "grace", "daemon", "log_level", "log_file", "parsers_file", "plugins_file",
		"http_server", "http_listen", "http_port", "health_check", "hc_errors_count", "hc_retry_failure_count", "hc_period",
		"storage.path", "storage.sync", "storage.checksum", "storage.max_chunks_up", "storage.backlog.mem_limit",
		"storage.metrics", "storage.delete_irrecoverable_chunks"},
	"tail": {"name", "tag", "path", "exclude_path", "multiline.parser", "db", "db.locking", "db.sync", "db.journal_mode",
		"skip_long_lines", "refresh_interval", "read_from_head", "rotate_wait", "mem_buf_limit", "buffer_chunk_size",
		"buffer_max_size", "storage.type", "storage.pause_on_chunks_overlimit", "path_key", "ignore_older"},
	"kubernetes": {"name", "match", "kube_url", "kube_ca_file", "kube_token_file", "kube_tag_prefix", "merge_log",
		"merge_log_key", "merge_log_trim", "keep_log", "k8s-logging.parser", "k8s-logging.exclude", "labels",
		"annotations", "buffer_size", "namespace_labels", "namespace_annotations", "use_kubelet"},
	"es": {"name", "match", "host", "port", "index", "type", "path", "write_operation", "suppress_type_name",
		"replace_dots", "http_user", "http_passwd", "tls", "tls.verify", "tls.ca_file", "tls.crt_file", "tls.key_file",
		"trace_error", "trace_output", "retry_limit", "storage.total_limit_size", "logstash_format", "generate_id",
		"buffer_size", "workers", "compress", "time_key"},
}

func generatedFluentBit(t *testing.T) map[string]any {
	t.Helper()
	text, err := NewFluentBitConfig(FluentBitSettings{DataStream: "nexios-logs", BufferLimit: "2G"}).YAML()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("fluent-bit.yaml is not YAML: %v\n%s", err, text)
	}
	return doc
}

func checkKeys(t *testing.T, section string, entry map[string]any, plugin string) {
	t.Helper()
	for key, value := range entry {
		if !slices.Contains(fluentBit40Keys[plugin], key) {
			t.Errorf("%s: %q is not a key Fluent Bit 4.0 documents for %s", section, key, plugin)
		}
		switch value.(type) {
		case string, int, bool:
		default:
			t.Errorf("%s.%s = %#v: plugin properties are scalars", section, key, value)
		}
	}
}

func TestFluentBitConfigStructure(t *testing.T) {
	doc := generatedFluentBit(t)
	for key := range doc {
		if !slices.Contains([]string{"env", "includes", "service", "parsers", "multiline_parsers", "pipeline", "plugins"}, key) {
			t.Errorf("unknown top-level section %q", key)
		}
	}
	service, _ := doc["service"].(map[string]any)
	checkKeys(t, "service", service, "service")
	pipeline, _ := doc["pipeline"].(map[string]any)
	plugins := map[string]map[string]any{}
	for section, list := range pipeline {
		if !slices.Contains([]string{"inputs", "filters", "outputs"}, section) {
			t.Errorf("unknown pipeline section %q", section)
		}
		entries, ok := list.([]any)
		if !ok || len(entries) == 0 {
			t.Errorf("pipeline.%s is not a non-empty list", section)
		}
		for _, e := range entries {
			entry, _ := e.(map[string]any)
			name, _ := entry["name"].(string)
			if _, known := fluentBit40Keys[name]; !known {
				t.Errorf("pipeline.%s: plugin %q", section, name)
				continue
			}
			checkKeys(t, "pipeline."+section+"."+name, entry, name)
			plugins[name] = entry
		}
	}

	// What the issue asks of the pipeline, read back from the file.
	tail, k8s, es := plugins["tail"], plugins["kubernetes"], plugins["es"]
	for _, c := range []struct {
		what string
		got  any
		want any
	}{
		{"tail path", tail["path"], "/var/log/containers/*.log"},
		{"tail buffering", tail["storage.type"], "filesystem"},
		{"buffer on the node", service["storage.path"], fluentBitBufferDir + "/storage"},
		{"kubernetes metadata for the tail's records", k8s["match"], tail["tag"]},
		{"JSON lines merged", k8s["merge_log"], "on"},
		{"output for the tail's records", es["match"], tail["tag"]},
		{"data stream", es["index"], "nexios-logs"},
		{"data streams take create", es["write_operation"], "create"},
		{"ES 8 has no types", es["suppress_type_name"], "on"},
		{"the writer user, never the superuser", es["http_user"], "fluentbit_writer"},
		{"password from the environment", es["http_passwd"], "${FLUENT_BIT_WRITER_PASSWORD}"},
		{"TLS", es["tls"], "on"},
		{"TLS verified", es["tls.verify"], "on"},
		{"TLS CA", es["tls.ca_file"], fluentBitCertsDir + "/ca.crt"},
		{"retries", es["retry_limit"], "no_limits"},
		{"buffer cap", es["storage.total_limit_size"], "2G"},
		{"health endpoint", service["health_check"], "on"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	// The filter finds pod, namespace and container by stripping this prefix from the tag the tail
	// input expands from the file path.
	tag := strings.TrimSuffix(tail["tag"].(string), "*") + strings.ReplaceAll(strings.TrimPrefix(tail["path"].(string), "/"), "/", ".")
	if !strings.HasPrefix(tag, k8s["kube_tag_prefix"].(string)) {
		t.Errorf("kube_tag_prefix %v does not prefix the tail's tags %s", k8s["kube_tag_prefix"], tag)
	}
}

func TestFluentBitDaemonSet(t *testing.T) {
	m, _ := deploy(t, devArgs())
	cm := m.Find(t, tConfigMap, "logs-fluent-bit")
	want, _ := NewFluentBitConfig(FluentBitSettings{DataStream: "nexios-logs", BufferLimit: "2G"}).YAML()
	if got := cm.String(`data["fluent-bit.yaml"]`); got != want {
		t.Errorf("config map holds\n%s\nwant\n%s", got, want)
	}
	ds := m.Find(t, tDaemonSet, "logs-fluent-bit")
	spec := "spec.template.spec"
	if got := ds.String(spec + ".tolerations[0].operator"); got != "Exists" || ds.Len(spec+".tolerations") != 1 {
		t.Errorf("tolerations: operator %q, want a single Exists", got)
	}
	c := spec + ".containers[0]"
	if img := ds.String(c + ".image"); img != FluentBitImage || !strings.Contains(img, ":4.") {
		t.Errorf("image %q, want a pinned 4.x tag", img)
	}
	if got := ds.String(c + ".args[0]"); got != "--config=/fluent-bit/config/fluent-bit.yaml" {
		t.Errorf("args %q", got)
	}
	e := env(ds, c)
	if e["FLUENT_BIT_WRITER_PASSWORD"] != "secret:"+SecretKeyFluentBitWriterPassword || !strings.HasSuffix(e["ES_HOST"], ".logging.svc.cluster.local") {
		t.Errorf("env %v", e)
	}
	if _, superuser := e["ELASTIC_PASSWORD"]; superuser {
		t.Error("Fluent Bit gets the elastic superuser's password")
	}
	if got := ds.String(c + ".env[1].valueFrom.secretKeyRef.name"); got != "logs-fluent-bit-credentials-abc123" {
		t.Errorf("writer password from %q, want Fluent Bit's credentials Secret", got)
	}
	hostPaths := map[string]string{}
	for i := 0; i < ds.Len(spec+".volumes"); i++ {
		v := spec + ".volumes[" + strconv.Itoa(i) + "]"
		if p := ds.String(v + ".hostPath.path"); p != "" {
			hostPaths[ds.String(v+".name")] = p
		}
	}
	if hostPaths["varlog"] != "/var/log" || hostPaths["buffer"] != "/var/lib/fluent-bit" {
		t.Errorf("host paths %v", hostPaths)
	}
	if esc, _ := ds.Bool(c + ".securityContext.allowPrivilegeEscalation"); esc {
		t.Error("privilege escalation allowed")
	}
	if got := ds.String(c + ".securityContext.capabilities.drop[0]"); got != "ALL" {
		t.Errorf("capabilities dropped: %q", got)
	}
	if ds.String(`spec.template.metadata.annotations["checksum/config"]`) == "" {
		t.Error("no config checksum: a new configuration would not restart the pods")
	}
	rotated := devArgs()
	rotated.FluentBitWriterPassword = pulumi.ToSecret(pulumi.String("writer-pw-2")).(pulumi.StringOutput)
	m2, _ := deploy(t, rotated)
	if m2.Find(t, tDaemonSet, "logs-fluent-bit").String(`spec.template.metadata.annotations["checksum/config"]`) ==
		ds.String(`spec.template.metadata.annotations["checksum/config"]`) {
		t.Error("a new writer password does not restart Fluent Bit")
	}

	role := m.Find(t, tClusterRole, "logs-fluent-bit")
	if n := role.Len("rules"); n != 1 {
		t.Fatalf("%d rules", n)
	}
	var resources, verbs []string
	for i := 0; i < role.Len("rules[0].resources"); i++ {
		resources = append(resources, role.String("rules[0].resources["+strconv.Itoa(i)+"]"))
	}
	for i := 0; i < role.Len("rules[0].verbs"); i++ {
		verbs = append(verbs, role.String("rules[0].verbs["+strconv.Itoa(i)+"]"))
	}
	if !slices.Equal(resources, []string{"pods", "namespaces"}) || !slices.Equal(verbs, []string{"get", "list", "watch"}) {
		t.Errorf("cluster role grants %v on %v", verbs, resources)
	}
	binding := m.Find(t, tCRB, "logs-fluent-bit")
	if got := binding.String("subjects[0].name"); got != "logs-fluent-bit-abc123" {
		t.Errorf("binding subject %q, want the service account", got)
	}
	if got := binding.String("subjects[0].namespace"); got != "logging-agents" {
		t.Errorf("binding subject's namespace %q, want Fluent Bit's own", got)
	}
}

// Fluent Bit and everything it reads live in its own namespace; what it reads of the stack's
// credentials is a copy holding its own password and the CA certificate, nothing else.
func TestFluentBitRunsInItsOwnNamespace(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	for _, r := range []struct{ typ, name string }{
		{tDaemonSet, "logs-fluent-bit"},
		{tConfigMap, "logs-fluent-bit"},
		{tSA, "logs-fluent-bit"},
		{tSecret, "logs-fluent-bit-credentials"},
		{tNetPol, "logs-netpol-fluent-bit"},
		{tNetPol, "logs-netpol-agents-deny-all"},
	} {
		if got := m.Find(t, r.typ, r.name).String("metadata.namespace"); got != "logging-agents" {
			t.Errorf("%s %s is in namespace %q, want logging-agents", r.typ, r.name, got)
		}
	}
	secret := m.Find(t, tSecret, "logs-fluent-bit-credentials")
	if n := secret.Len("stringData"); n != 2 {
		t.Errorf("Fluent Bit's Secret holds %d keys, want its password and ca.crt", n)
	}
	if got := secret.String(`stringData["` + SecretKeyFluentBitWriterPassword + `"]`); got != writerPassword {
		t.Errorf("writer password = %q", got)
	}
	want, err := caCertificate(caSeed)
	if err != nil {
		t.Fatal(err)
	}
	if got := secret.String(`stringData["ca.crt"]`); got != want {
		t.Errorf("ca.crt = %.40q, want the stack's CA", got)
	}
	if !secret.IsSecret("stringData") {
		t.Error("Fluent Bit's credentials are not secret")
	}
	ds := m.Find(t, tDaemonSet, "logs-fluent-bit")
	// The old pods hold the buffer's lock: a replaced DaemonSet must go before the new one comes.
	if !ds.DeleteBeforeReplace {
		t.Error("the DaemonSet is replaced create-before-delete: two Fluent Bits would share a node's buffer")
	}
	for i := 0; i < ds.Len("spec.template.spec.volumes"); i++ {
		v := "spec.template.spec.volumes[" + strconv.Itoa(i) + "]"
		if ds.String(v+".name") == "certs" && ds.String(v+".secret.secretName") != "logs-fluent-bit-credentials-abc123" {
			t.Errorf("CA certificate from %q, want Fluent Bit's Secret", ds.String(v+".secret.secretName"))
		}
	}
}

// Liveness restarts a dead Fluent Bit only; readiness reports an output that keeps failing, as during
// an Elasticsearch outage, which a restart would not mend.
func TestFluentBitProbesDiffer(t *testing.T) {
	m, _ := deploy(t, devArgs())
	ds := m.Find(t, tDaemonSet, "logs-fluent-bit")
	c := "spec.template.spec.containers[0]"
	if got := ds.String(c + ".livenessProbe.httpGet.path"); got != "/api/v1/uptime" {
		t.Errorf("liveness path %q, want /api/v1/uptime, which answers while the process runs", got)
	}
	if got := ds.String(c + ".readinessProbe.httpGet.path"); got != "/api/v1/health" {
		t.Errorf("readiness path %q, want /api/v1/health, which fails with the output's errors", got)
	}
	if live, ready := ds.Number(c+".livenessProbe.failureThreshold"), ds.Number(c+".readinessProbe.failureThreshold"); live <= ready {
		t.Errorf("liveness gives up after %v failures, readiness after %v: a restart should come later than unreadiness", live, ready)
	}
	// health_check must be on, or /api/v1/health would answer ok whatever the output does.
	if doc := generatedFluentBit(t); doc["service"].(map[string]any)["health_check"] != "on" {
		t.Error("health_check is off: readiness would never see a failing output")
	}
}
