package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseQuantities(t *testing.T) {
	for _, tc := range []struct {
		in          string
		cpu, memory int64
		wantErr     bool
	}{
		{in: "500m", cpu: 500, memory: 1},
		{in: "1", cpu: 1000, memory: 1},
		{in: "1.5", cpu: 1500, memory: 2},
		{in: "0.1", cpu: 100, memory: 1},
		{in: "256Mi", memory: 256 << 20, cpu: 256 << 20 * 1000},
		{in: "4Gi", memory: 4 << 30, cpu: 4 << 30 * 1000},
		{in: "128M", memory: 128e6, cpu: 128e9},
		{in: "1k", memory: 1000, cpu: 1e6},
		{in: "", wantErr: true},
		{in: "Mi", wantErr: true},
		{in: "lots", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "1e3", wantErr: true},
	} {
		cpu, errCPU := parseCPU(tc.in)
		memory, errMem := parseMemory(tc.in)
		if tc.wantErr {
			if errCPU == nil || errMem == nil {
				t.Errorf("%q: parsed (cpu %d, memory %d), want an error", tc.in, cpu, memory)
			}
			continue
		}
		if errCPU != nil || errMem != nil || cpu != tc.cpu || memory != tc.memory {
			t.Errorf("%q: cpu %d (%v), memory %d (%v); want cpu %d, memory %d", tc.in, cpu, errCPU, memory, errMem, tc.cpu, tc.memory)
		}
	}
}

// res is a container with CPU and memory requests and limits; an empty string leaves one out.
func res(name, cpuReq, cpuLim, memReq, memLim string) container {
	c := container{Name: name}
	c.Resources.Requests, c.Resources.Limits = map[string]string{}, map[string]string{}
	for m, kv := range map[*map[string]string][2]string{&c.Resources.Requests: {cpuReq, memReq}, &c.Resources.Limits: {cpuLim, memLim}} {
		if kv[0] != "" {
			(*m)["cpu"] = kv[0]
		}
		if kv[1] != "" {
			(*m)["memory"] = kv[1]
		}
	}
	return c
}

func TestPodAmounts(t *testing.T) {
	sidecar := res("proxy", "100m", "200m", "64Mi", "64Mi")
	sidecar.RestartPolicy = "Always"
	defaults := res("", "250m", "1", "256Mi", "512Mi")
	for _, tc := range []struct {
		name     string
		spec     podSpec
		defaults container
		want     amounts
	}{
		{
			name: "containers add up",
			spec: podSpec{Containers: []container{res("a", "100m", "500m", "128Mi", "256Mi"), res("b", "50m", "1", "64Mi", "1Gi")}},
			want: amounts{150, 1500, 192 << 20, 1280 << 20},
		},
		{
			name: "an init container larger than the containers sets the pod's figures",
			spec: podSpec{
				InitContainers: []container{res("init", "2", "3", "32Mi", "64Mi")},
				Containers:     []container{res("a", "100m", "500m", "128Mi", "256Mi"), res("b", "50m", "1", "64Mi", "1Gi")},
			},
			// CPU: max(2000, 150) and max(3000, 1500); memory: the containers' sum.
			want: amounts{2000, 3000, 192 << 20, 1280 << 20},
		},
		{
			name: "a sidecar adds to the containers and to the init containers after it",
			spec: podSpec{
				InitContainers: []container{sidecar, res("init", "1", "1", "32Mi", "32Mi")},
				Containers:     []container{res("a", "100m", "500m", "128Mi", "256Mi")},
			},
			want: amounts{1100, 1200, 192 << 20, 320 << 20},
		},
		{
			name:     "the LimitRange fills what a container leaves out; a limit alone is also the request",
			spec:     podSpec{Containers: []container{res("bare", "", "", "", ""), res("limited", "", "2", "", "1Gi")}},
			defaults: defaults,
			want:     amounts{250 + 2000, 1000 + 2000, 256<<20 + 1<<30, 512<<20 + 1<<30},
		},
		{
			name: "no limit and no LimitRange: the pod is unbounded, requests zero",
			spec: podSpec{Containers: []container{res("bare", "", "", "", ""), res("a", "100m", "500m", "128Mi", "256Mi")}},
			want: amounts{100, -1, 128 << 20, -1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := podAmounts(tc.spec, tc.defaults)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := podAmounts(podSpec{Containers: []container{res("a", "lots", "", "", "")}}, container{}); err == nil || !strings.Contains(err.Error(), "container a: requests.cpu") {
		t.Errorf("a malformed request: error %v, want one naming container a's requests.cpu", err)
	}
}

// renderedStack is a small render: an autoscaled app Deployment without replicas (its HPA's
// minReplicas count) in a namespace with a LimitRange, a monitoring StatefulSet, a logging DaemonSet
// and a logging Job, one object per file and two in one file.
var renderedStack = map[string]string{
	"app.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: web-1, namespace: app-ns, labels: {app.kubernetes.io/component: web}}
spec:
  template:
    spec:
      containers:
      - {name: app, resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: "1", memory: 512Mi}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web-hpa, namespace: app-ns}
spec: {minReplicas: 3, maxReplicas: 10, scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web-1}}
`,
	"limits.yaml": `apiVersion: v1
kind: LimitRange
metadata: {name: limits, namespace: app-ns}
spec: {limits: [{type: Container, default: {cpu: 500m, memory: 128Mi}, defaultRequest: {cpu: 100m, memory: 64Mi}}]}
`,
	"sub/prometheus.yaml": `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: prometheus, namespace: mon, labels: {app.kubernetes.io/component: monitoring}}
spec:
  replicas: 2
  template:
    spec:
      initContainers:
      - {name: init, resources: {requests: {cpu: "2", memory: 32Mi}, limits: {cpu: "2", memory: 32Mi}}}
      containers:
      - {name: prometheus, resources: {requests: {cpu: 500m, memory: 2Gi}, limits: {cpu: "2", memory: 4Gi}}}
`,
	"agents.yaml": `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: fluent-bit, namespace: agents, labels: {app.kubernetes.io/component: logging}}
spec:
  template:
    spec:
      containers:
      - {name: fluent-bit, resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: 500m, memory: 256Mi}}}
`,
	"setup.yaml": `apiVersion: batch/v1
kind: Job
metadata: {name: setup, namespace: logging, labels: {app.kubernetes.io/component: logging}}
spec:
  template:
    spec:
      containers:
      - {name: setup, resources: {requests: {cpu: "8", memory: 8Gi}}}
`,
	"README.md": "not a manifest",
}

func TestResourceTotals(t *testing.T) {
	dir := t.TempDir()
	for name, content := range renderedStack {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := resourceTotals(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []componentTotals{
		{component: "app", pods: 3, totals: amounts{750, 3000, 768 << 20, 1536 << 20}, hpaMaxPods: 10, hpaMax: amounts{2500, 10000, 2560 << 20, 5120 << 20}},
		{component: "logging", pods: 1, daemonSets: 1, totals: amounts{50, 500, 64 << 20, 256 << 20}, jobs: []string{"setup"}},
		// The init container's 2 CPUs outweigh the container's 500m request.
		{component: "monitoring", pods: 2, totals: amounts{4000, 4000, 4 << 30, 8 << 30}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d components %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.component != w.component || g.pods != w.pods || g.daemonSets != w.daemonSets || g.totals != w.totals ||
			g.hpaMaxPods != w.hpaMaxPods || g.hpaMax != w.hpaMax || strings.Join(g.jobs, ",") != strings.Join(w.jobs, ",") {
			t.Errorf("component %d:\n got %+v\nwant %+v", i, g, w)
		}
	}

	var table bytes.Buffer
	printResources(&table, []string{"prod"}, map[string][]componentTotals{"prod": got})
	for _, row := range []string{
		"| prod | app | 3 | 0.75 | 3 | 768 MiB | 1.5 GiB |",
		"| prod | app, HPAs at maxReplicas | 10 | 2.5 | 10 | 2.5 GiB | 5 GiB |",
		"| prod | logging | 1 (1 per node) | 0.05 | 0.5 | 64 MiB | 256 MiB |",
		"| prod | **total** | 6 | 4.8 | 7.5 | 4.81 GiB | 9.75 GiB |",
		"| prod | **total, HPAs at maxReplicas** | 13 | 6.55 | 14.5 | 6.56 GiB | 13.25 GiB |",
		"prod: the logging Job setup runs once and is not counted.",
	} {
		if !strings.Contains(table.String(), row) {
			t.Errorf("table lacks %q:\n%s", row, table.String())
		}
	}

	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "cm.yaml"), []byte("kind: ConfigMap\nmetadata: {name: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := resourceTotals(empty); err == nil {
		t.Error("a render without workloads gave totals")
	}
}

func TestReadManifests(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"ns.yaml":     "kind: Namespace\nmetadata: {name: app}\n",
		"deploy.yaml": "kind: Deployment\nmetadata: {name: web, namespace: app}\n",
		"job.yaml":    "kind: Job\nmetadata: {name: setup, namespace: app}\n",
		"cm.yaml":     "kind: ConfigMap\nmetadata: {name: env, namespace: app}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := readManifests(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := func(paths []string) string {
		var names []string
		for _, p := range paths {
			names = append(names, filepath.Base(p))
		}
		return strings.Join(names, ",")
	}
	// WalkDir goes in lexical order.
	if got := base(m.namespaces); got != "ns.yaml" {
		t.Errorf("namespaces %s, want ns.yaml", got)
	}
	if got := base(m.others); got != "cm.yaml,deploy.yaml,job.yaml" {
		t.Errorf("others %s, want cm.yaml,deploy.yaml,job.yaml", got)
	}
	want := []workload{{"deployment", "app", "web"}, {"job", "app", "setup"}}
	if len(m.workloads) != 2 || m.workloads[0] != want[0] || m.workloads[1] != want[1] {
		t.Errorf("workloads %v, want %v", m.workloads, want)
	}
	if err := os.Remove(filepath.Join(dir, "ns.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := readManifests(dir); err == nil {
		t.Error("a render without a namespace was read")
	}
}
