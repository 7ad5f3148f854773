package logging

import (
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
	"github.com/nexios-labs/nexios-k8s/internal/podcheck"
)

func TestHeapSize(t *testing.T) {
	tests := []struct {
		limit string
		want  int
		ok    bool
	}{
		{"1Gi", 512, true},
		{"4Gi", 2048, true},
		{"3000Mi", 1500, true},
		{"512Mi", 256, true},
		// Half of 64 GiB would lose compressed object pointers: capped at 31 GiB.
		{"64Gi", 31 * 1024, true},
		{"256Mi", 0, false},
		{"lots", 0, false},
	}
	for _, tt := range tests {
		got, err := HeapSize(tt.limit)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("HeapSize(%q) = %d, %v; want %d, ok=%v", tt.limit, got, err, tt.want, tt.ok)
		}
	}
	if got := JavaOpts(512); got != "-Xms512m -Xmx512m" {
		t.Errorf("JavaOpts = %q", got)
	}
}

// env returns the container's environment by name: a value, or "secret:<key>" for a secretKeyRef,
// or "field:<path>" for a fieldRef.
func env(r mocktest.Resource, container string) map[string]string {
	out := map[string]string{}
	for i := 0; i < r.Len(container+".env"); i++ {
		p := container + ".env[" + strconv.Itoa(i) + "]"
		name := r.String(p + ".name")
		switch {
		case r.String(p+".valueFrom.secretKeyRef.key") != "":
			out[name] = "secret:" + r.String(p+".valueFrom.secretKeyRef.key")
		case r.String(p+".valueFrom.fieldRef.fieldPath") != "":
			out[name] = "field:" + r.String(p+".valueFrom.fieldRef.fieldPath")
		default:
			out[name] = r.String(p + ".value")
		}
	}
	return out
}

func TestElasticsearchPerEnvironment(t *testing.T) {
	tests := []struct {
		name          string
		args          LoggingArgs
		replicas      float64
		heap          string
		discovery     map[string]string
		pdb           bool
		claims        int
		storageClass  string
		antiAffinity  int
		zoneSpread    int
		indexReplicas string
	}{
		{"dev", devArgs(), 1, "-Xms512m -Xmx512m",
			map[string]string{"discovery.type": "single-node"}, false, 1, "", 0, 0, "0"},
		{"prod", prodArgs(), 3, "-Xms2048m -Xmx2048m",
			map[string]string{"cluster.initial_master_nodes": "logs-es-0,logs-es-1,logs-es-2", "discovery.seed_hosts": "logs-es-discovery-abc123"},
			true, 1, "fast-ssd", 1, 1, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			sts := m.Find(t, tStatefulSet, "logs-es")
			if got := sts.String("metadata.name"); got != "logs-es" {
				t.Errorf("statefulset name = %q, want the fixed name its bootstrap settings use", got)
			}
			if got := sts.Number("spec.replicas"); got != tt.replicas {
				t.Errorf("replicas = %v, want %v", got, tt.replicas)
			}
			if got := sts.String("spec.podManagementPolicy"); got != "Parallel" {
				t.Errorf("podManagementPolicy = %q", got)
			}
			if got := sts.String("spec.serviceName"); got != "logs-es-discovery-abc123" {
				t.Errorf("serviceName = %q, want the headless service", got)
			}
			c := "spec.template.spec.containers[0]"
			if got := sts.String(c + ".image"); got != ElasticsearchImage || !strings.Contains(got, ":8.") {
				t.Errorf("image = %q, want a pinned 8.x tag", got)
			}
			e := env(sts, c)
			want := map[string]string{
				"ES_JAVA_OPTS":                                    tt.heap,
				"node.store.allow_mmap":                           "false",
				"xpack.security.enabled":                          "true",
				"xpack.security.transport.ssl.enabled":            "true",
				"xpack.security.http.ssl.enabled":                 "true",
				envAdminPassword:                                  "secret:" + SecretKeyAdminPassword,
				"node.name":                                       "field:metadata.name",
				"xpack.security.http.ssl.certificate":             esCertsDir + "/tls.crt",
				"xpack.security.transport.ssl.key":                esCertsDir + "/tls.key",
				"xpack.security.http.ssl.certificate_authorities": esCAFile,
			}
			for k, v := range tt.discovery {
				want[k] = v
			}
			for k, v := range want {
				if e[k] != v {
					t.Errorf("env %s = %q, want %q", k, e[k], v)
				}
			}
			if _, single := e["discovery.type"]; single != (tt.replicas == 1) {
				t.Errorf("discovery.type set = %v with %v replicas", single, tt.replicas)
			}
			// No privileged init container: mmap is off instead of raising vm.max_map_count.
			for i := 0; i < sts.Len("spec.template.spec.initContainers"); i++ {
				if p, _ := sts.Bool("spec.template.spec.initContainers[" + strconv.Itoa(i) + "].securityContext.privileged"); p {
					t.Error("a privileged init container")
				}
			}
			if got := sts.Len("spec.volumeClaimTemplates"); got != tt.claims {
				t.Errorf("volume claim templates = %d, want %d", got, tt.claims)
			}
			if got := sts.String("spec.volumeClaimTemplates[0].spec.storageClassName"); got != tt.storageClass {
				t.Errorf("storage class = %q, want %q", got, tt.storageClass)
			}
			if got := sts.String(`spec.volumeClaimTemplates[0].spec.resources.requests["storage"]`); got != tt.args.Elasticsearch.StorageSize {
				t.Errorf("storage = %q", got)
			}
			if got := sts.Len("spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution"); got != tt.antiAffinity {
				t.Errorf("required anti-affinity terms = %d, want %d", got, tt.antiAffinity)
			}
			if got := sts.Len("spec.template.spec.topologySpreadConstraints"); got != tt.zoneSpread {
				t.Errorf("zone spread constraints = %d, want %d", got, tt.zoneSpread)
			}
			if got := m.Has(tPDB, "logs-es-pdb"); got != tt.pdb {
				t.Errorf("PDB = %v, want %v", got, tt.pdb)
			}
			if got := sts.String(c + ".readinessProbe.exec.command[2]"); !strings.Contains(got, "_cluster/health") || strings.Contains(got, adminPassword) {
				t.Errorf("readiness probe %q does not ask the cluster's health, or holds the password", got)
			}
		})
	}
}

// With Ephemeral the data lives on an emptyDir bounded by StorageSize (5Gi when unset), and the
// container's ephemeral storage grows by that size; with a volume claim it covers only the config,
// scratch and log directories.
func TestElasticsearchEphemeralStorage(t *testing.T) {
	unsized := devArgs()
	unsized.Elasticsearch.Ephemeral = true
	unsized.Elasticsearch.StorageSize = ""
	sized := unsized
	sized.Elasticsearch.StorageSize = "10Gi"
	tests := []struct {
		name           string
		args           LoggingArgs
		dataSize       string
		request, limit string
		claims         int
	}{
		{"volume claim", devArgs(), "", "512Mi", "3Gi", 1},
		{"ephemeral, default size", unsized, "5Gi", "5632Mi", "8192Mi", 0},
		{"ephemeral, sized", sized, "10Gi", "10752Mi", "13312Mi", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			sts := m.Find(t, tStatefulSet, "logs-es")
			if n := sts.Len("spec.volumeClaimTemplates"); n != tt.claims {
				t.Errorf("%d claim templates, want %d", n, tt.claims)
			}
			sizes := map[string]string{}
			for i := 0; i < sts.Len("spec.template.spec.volumes"); i++ {
				p := "spec.template.spec.volumes[" + strconv.Itoa(i) + "]"
				if _, ok := sts.Get(p + ".emptyDir"); ok {
					sizes[sts.String(p+".name")] = sts.String(p + ".emptyDir.sizeLimit")
				}
			}
			want := map[string]string{"config": esConfigSize, "tmp": esTmpSize, "logs": esLogsSize}
			if tt.dataSize != "" {
				want["data"] = tt.dataSize
			}
			if !maps.Equal(sizes, want) {
				t.Errorf("emptyDir sizeLimits %v, want %v", sizes, want)
			}
			c := "spec.template.spec.containers[0].resources"
			if got := sts.String(c + `.requests["ephemeral-storage"]`); got != tt.request {
				t.Errorf("ephemeral-storage request %q, want %q", got, tt.request)
			}
			if got := sts.String(c + `.limits["ephemeral-storage"]`); got != tt.limit {
				t.Errorf("ephemeral-storage limit %q, want %q", got, tt.limit)
			}
			podcheck.EphemeralStorage(t, sts, podcheck.TemplateSpec)
		})
	}
}

func TestElasticsearchServices(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	headless := m.Find(t, tService, "logs-es-discovery")
	if got := headless.String("spec.clusterIP"); got != "None" {
		t.Errorf("discovery clusterIP = %q, want None", got)
	}
	if v, _ := headless.Bool("spec.publishNotReadyAddresses"); !v {
		t.Error("discovery service hides unready nodes: a new cluster could never form")
	}
	client := m.Find(t, tService, "logs-es")
	if got := client.Len("spec.ports"); got != 1 || client.Number("spec.ports[0].port") != esHTTPPort {
		t.Errorf("client service ports = %d (%v), want only 9200", got, client.Number("spec.ports[0].port"))
	}
}

func TestSecretsStaySecret(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	for _, name := range []string{"logs-credentials", "logs-es-tls", "logs-kibana-keys"} {
		s := m.Find(t, tSecret, name)
		if !s.IsSecret("stringData") {
			t.Errorf("secret %s carries plain data", name)
		}
	}
	creds := m.Find(t, tSecret, "logs-credentials")
	if got := creds.String("stringData." + SecretKeyAdminPassword); got != adminPassword {
		t.Errorf("elastic password = %q", got)
	}
	if got := creds.String(`stringData["ca.crt"]`); !strings.HasPrefix(got, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("ca.crt = %q", got)
	}
	for _, r := range m.Resources() {
		for _, path := range []string{"spec.template", "data"} {
			if v, ok := r.Get(path); ok && !r.IsSecret(path) && (strings.Contains(v.String(), adminPassword) || strings.Contains(v.String(), kibanaPassword)) {
				t.Errorf("%s %s carries a password in plain text", r.Type, r.Name)
			}
		}
	}
}
