package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/nexios-labs/nexios-k8s/internal/localcluster"
	nexios "github.com/nexios-labs/nexios-k8s/program"
)

// realNodeCluster is this test's own cluster, with a real node.
const realNodeCluster = "nexios-e2e-real"

// TestRealNode deploys the dev stack (the example app and the bundled monitoring stack) to a cluster
// whose real node runs the containers with containerd and runc, and checks what only real containers
// can show: every workload whose image was built here runs on the real node and is Ready by its own
// probes, under the program's security context; the app answers through its Service's DNS name from
// a namespace its NetworkPolicy admits and refuses one it does not; a stopped and restarted cluster
// brings the same pods back; and removing the cluster leaves nothing on the machine.
func TestRealNode(t *testing.T) {
	probe := localcluster.Cluster{Toolchain: requireTools(t), Name: realNodeCluster}
	if err := probe.RealNodeSupport(t.Context()); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("NEXIOS_E2E") == "1" {
			t.Fatalf("this machine cannot run a real node: %v", err)
		}
		t.Skipf("this machine cannot run a real node: %v", err)
	}
	before := hostSnapshot(t)
	ctx, tc, cluster := startFreshCluster(t, localcluster.Cluster{Name: realNodeCluster, RealNodes: 1})
	kubeconfig, err := cluster.Kubeconfig(ctx)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	api := newAPIClient(t, kubeconfig)
	stack := devStackWith(ctx, t, tc, devStackConfig(kubeconfig, exampleAppImage, nil, realNodeMonitoring))
	res, err := stack.Up(ctx, optup.ProgressStreams(testLog{t}))
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	appNamespace, _ := res.Outputs[nexios.ExportNamespace].Value.(string)
	serviceName, _ := res.Outputs[nexios.ExportServiceName].Value.(string)
	internalURL, _ := res.Outputs[nexios.ExportInternalURL].Value.(string)
	realNode := realNodeCluster + "-real-0"

	var ranForReal []string
	t.Run("workloads built here run for real on the real node", func(t *testing.T) {
		for _, namespace := range []string{appNamespace, "monitoring"} {
			for _, pod := range listPods(t, api, namespace) {
				real := pod.Spec.NodeName == realNode
				if real {
					ranForReal = append(ranForReal, namespace+"/"+pod.Metadata.Name)
				}
				if pod.usesImage("grafana") {
					if real {
						t.Errorf("pod %s/%s runs Grafana, whose image does not exist here, on the real node", namespace, pod.Metadata.Name)
					}
					continue
				}
				if !real {
					t.Errorf("pod %s/%s runs on %s, want the real node %s", namespace, pod.Metadata.Name, pod.Spec.NodeName, realNode)
					continue
				}
				if !pod.ready() {
					t.Errorf("pod %s/%s is not Ready on the real node: %s", namespace, pod.Metadata.Name, pod.describe())
				}
				// Running under the program's restrictions is what proves the image fits them.
				if nonRoot := pod.Spec.SecurityContext.RunAsNonRoot; nonRoot == nil || !*nonRoot {
					t.Errorf("pod %s/%s does not run as non-root", namespace, pod.Metadata.Name)
				}
				for _, c := range pod.Spec.Containers {
					if ro := c.SecurityContext.ReadOnlyRootFilesystem; ro == nil || !*ro {
						t.Errorf("a container of %s/%s (%s) has a writable root filesystem", namespace, pod.Metadata.Name, c.Image)
					}
				}
				for _, c := range pod.Status.ContainerStatuses {
					if c.State.Running == nil {
						t.Errorf("container %s of %s/%s is not running: %s", c.Name, namespace, pod.Metadata.Name, pod.describe())
					}
				}
			}
		}
		t.Logf("ran for real: %s", strings.Join(ranForReal, ", "))
		if len(ranForReal) < 4 {
			t.Errorf("only %d pods ran on the real node, want the app and every monitoring workload but Grafana", len(ranForReal))
		}
	})

	t.Run("Prometheus scrapes every real target through the NetworkPolicies", func(t *testing.T) {
		// Targets on simulated nodes (Grafana, the kwok kubelets) fail on this machine: nothing answers
		// for them, and no packet leaves it.
		want := []string{"alertmanager", "apiserver", "cadvisor", "kube-state-metrics", "kubelet", "nexios", "prometheus"}
		var down []string
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Second) {
			down = nil
			up := map[string]bool{}
			for _, target := range prometheusTargets(t, tc.BinDir(), kubeconfig) {
				if target.Health == "up" {
					up[target.Labels["job"]] = true
				} else if strings.Contains(target.ScrapeURL, nodeIPOnLink) {
					down = append(down, target.ScrapeURL+": "+target.LastError)
				}
			}
			for _, job := range want {
				if !up[job] {
					down = append(down, "job "+job+" has no target up")
				}
			}
			if len(down) == 0 {
				return
			}
		}
		t.Errorf("targets not up:\n%s", strings.Join(down, "\n"))
	})

	t.Run("the app's namespace enforces Pod Security restricted", func(t *testing.T) {
		var ns struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if code := api.get(t, "/api/v1/namespaces/"+appNamespace, &ns); code != http.StatusOK {
			t.Fatalf("GET namespace: HTTP %d", code)
		}
		if got := ns.Metadata.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
			t.Fatalf("namespace %s enforces %q, want restricted", appNamespace, got)
		}
		// A privileged pod is refused there: the admission that let the app in is really on.
		code, body := api.send(t, http.MethodPost, "/api/v1/namespaces/"+appNamespace+"/pods", clientPod("privileged", http.MethodGet, "http://localhost/", true))
		if code != http.StatusForbidden || !strings.Contains(body, "restricted") {
			t.Errorf("a privileged pod in %s: HTTP %d %s, want 403 naming the restricted policy", appNamespace, code, body)
		}
	})

	t.Run("the app answers through its Service's DNS name", func(t *testing.T) {
		// The ingress controller's namespace is one the app's NetworkPolicy admits.
		out, ok := runClientPod(t, api, "ingress-nginx", "allowed", http.MethodGet, internalURL+"/")
		if !ok || !strings.Contains(out, `"pod"`) {
			t.Errorf("client in ingress-nginx: ok=%v output %q, want the app's greeting", ok, out)
		}
	})

	t.Run("the app writes and reads a row in the stack's own PostgreSQL", func(t *testing.T) {
		// The row goes through the app's Service into the in-cluster PostgreSQL the dev profile runs,
		// with the DATABASE_URL the program composed: password login, the NetworkPolicy admitting
		// the app's pods, the server's volume, all for real.
		value := fmt.Sprintf("realnode-%d", time.Now().UnixNano())
		out, ok := runClientPod(t, api, "ingress-nginx", "db-write", http.MethodPost, internalURL+"/db?value="+value)
		if !ok || !strings.Contains(out, `"written"`) || !strings.Contains(out, value) {
			t.Fatalf("POST /db: ok=%v output %q, want the row written", ok, out)
		}
		out, ok = runClientPod(t, api, "ingress-nginx", "db-read", http.MethodGet, internalURL+"/db")
		if !ok || !strings.Contains(out, value) {
			t.Errorf("GET /db: ok=%v output %q, want the row %s read back", ok, out, value)
		}
	})

	t.Run("the NetworkPolicy refuses a namespace it does not admit", func(t *testing.T) {
		out, ok := runClientPod(t, api, "intruder", "denied", http.MethodGet, internalURL+"/")
		// kube-router rejects what no policy admits (the same client from ingress-nginx got through):
		// the connection is refused, or times out where a dropping enforcer is used.
		if ok {
			t.Errorf("client in namespace intruder reached the app (%q); the default-deny policy is not enforced", out)
		} else if !strings.Contains(out, "Connection refused") && !strings.Contains(out, "timed out") {
			t.Errorf("client in namespace intruder failed with %q, want a refused or timed-out connection", out)
		}
	})

	// The probes are the program's, against the app's own endpoints: the example app fails them on
	// request. The requests come from ingress-nginx, which the app's policy admits, to the pod itself,
	// since a pod out of the Service cannot be reached through it.
	appPod := func(t *testing.T) pod {
		t.Helper()
		pods := appPods(t, api, appNamespace)
		if len(pods) != 1 {
			t.Fatalf("%d app pods, want the dev profile's 1", len(pods))
		}
		return pods[0]
	}
	request := func(t *testing.T, name, path string) {
		t.Helper()
		url := fmt.Sprintf("http://%s:8000%s", appPod(t).Status.PodIP, path)
		if out, ok := runClientPod(t, api, "ingress-nginx", name, http.MethodPost, url); !ok {
			t.Fatalf("POST %s: %s", url, out)
		}
	}
	waitFor := func(t *testing.T, what string, limit time.Duration, done func(pod) bool) pod {
		t.Helper()
		for deadline := time.Now().Add(limit); ; time.Sleep(2 * time.Second) {
			p := appPod(t)
			if done(p) {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s: %s", what, limit, p.describe())
			}
		}
	}
	restarts := func(p pod) int {
		total := 0
		for _, c := range p.Status.ContainerStatuses {
			total += c.RestartCount
		}
		return total
	}

	t.Run("a failing readiness probe takes the pod out of the Service without a restart", func(t *testing.T) {
		before := restarts(appPod(t))
		request(t, "not-ready", "/admin/ready?fail=true")
		p := waitFor(t, "pod out of the Service's ready endpoints", time.Minute, func(p pod) bool {
			return !p.ready() && serviceEndpointsReady(t, api, appNamespace, serviceName) == 0
		})
		if restarts(p) != before {
			t.Errorf("a readiness failure restarted the container (%d restarts, had %d)", restarts(p), before)
		}
		request(t, "ready-again", "/admin/ready?fail=false")
		waitFor(t, "pod back in the Service's ready endpoints", time.Minute, func(p pod) bool {
			return p.ready() && serviceEndpointsReady(t, api, appNamespace, serviceName) == 1
		})
	})

	t.Run("a failing liveness probe restarts the container", func(t *testing.T) {
		before := restarts(appPod(t))
		request(t, "not-live", "/admin/health?fail=true")
		// Three failures 10 s apart, then the restart; the new process is healthy again.
		waitFor(t, "container restarted and Ready", 2*time.Minute, func(p pod) bool { return restarts(p) > before && p.ready() })
	})

	// The monitoring loop, on a second up that turns on the HPA (70 % CPU and a request rate per pod),
	// shortens the error-rate alert and adds a webhook receiver: the configuration change itself is
	// the first thing checked.
	t.Run("a config change reaches the running Prometheus and Alertmanager", func(t *testing.T) {
		receiverURL := startAlertReceiver(t, api)
		// What Prometheus holds from before the change must survive its pod's replacement: the
		// volume claim outlives the pod, the new one replays the old one's write-ahead log.
		prometheusBefore := prometheusPodUID(t, api)
		beforeChange := time.Now()
		if samples, err := promQueryAt(t, tc.BinDir(), kubeconfig, `up{job="prometheus"}`, beforeChange); err != nil || len(samples) == 0 {
			t.Fatalf("Prometheus has no sample of its own before the change: %v", err)
		}
		workDir := stack.Workspace().WorkDir()
		monitoring := maps.Clone(realNodeMonitoring)
		maps.Copy(monitoring, loopMonitoring)
		writeStackFile(t, workDir, devStackConfig(kubeconfig, exampleAppImage, map[string]any{"autoscaling": loopAutoscaling}, monitoring))
		if err := stack.SetConfigWithOptions(ctx, "nexios:monitoring.alertmanager.webhookUrl", auto.ConfigValue{Value: receiverURL, Secret: true}, &auto.ConfigOptions{Path: true}); err != nil {
			t.Fatalf("setting the webhook URL: %v", err)
		}
		if _, err := stack.Up(ctx, optup.ProgressStreams(testLog{t})); err != nil {
			t.Fatalf("up with autoscaling and the receiver: %v", err)
		}
		// Both roll on a configuration checksum; the new pods load the new files.
		var lastErr error
		took := false
		for deadline := time.Now().Add(3 * time.Minute); !took && time.Now().Before(deadline); time.Sleep(5 * time.Second) {
			durations, err := ruleFor(t, tc.BinDir(), kubeconfig, "NexiosHighErrorRate")
			if err != nil {
				lastErr = err
				continue
			}
			config, err := alertmanagerConfig(t, tc.BinDir(), kubeconfig)
			if err != nil {
				lastErr = err
				continue
			}
			lastErr = fmt.Errorf("NexiosHighErrorRate waits %v, want 60 s for each severity; Alertmanager has a webhook: %v",
				durations, strings.Contains(config, "webhook_configs"))
			took = durations["warning"] == 60 && durations["critical"] == 60 && strings.Contains(config, "webhook_configs")
		}
		if !took {
			t.Fatalf("the running monitoring stack did not take the change: %v", lastErr)
		}
		if after := prometheusPodUID(t, api); after == prometheusBefore {
			t.Fatalf("the Prometheus pod %s was not replaced by the change: nothing about its volume is proven", after)
		}
		samples, err := promQueryAt(t, tc.BinDir(), kubeconfig, `up{job="prometheus"}`, beforeChange)
		if err != nil || len(samples) == 0 {
			t.Errorf("Prometheus lost the samples from before its pod was replaced (%s on its volume claim): %v, %d series",
				realNodeMonitoring["storageSize"], err, len(samples))
		}
	})

	t.Run("the HPA scales on requests per second through the custom metrics API", func(t *testing.T) {
		// The app counts a request series only once it has served one, and the adapter discovers
		// series every minute: a trickle of requests first, until the metric is served for the pod.
		warmup := startLoad(t, api, "warmup", internalURL+"/", 0.5, 60)
		served := func() bool {
			return len(customMetricValues(t, api, appNamespace, requestRateMetric)) > 0 && len(customMetricValues(t, api, appNamespace, declaredMetric)) > 0
		}
		for deadline := time.Now().Add(4 * time.Minute); !served(); time.Sleep(5 * time.Second) {
			if time.Now().After(deadline) {
				t.Fatalf("the custom metrics API does not serve %s and %s for the app's pods; HPA ScalingActive %s", requestRateMetric, declaredMetric, appHPA(t, api, appNamespace).condition("ScalingActive"))
			}
		}
		waitPodFinished(t, api, "ingress-nginx", warmup, 2*time.Minute)

		// Ten requests a second to /, against targets of two (all requests) and three (requests to /,
		// the stack's own metric) per pod.
		loadStart := time.Now()
		load := startLoad(t, api, "request-load", internalURL+"/", 10, 150)
		var scaledAfter time.Duration
		var h hpa
		for deadline := loadStart.Add(150 * time.Second); scaledAfter == 0; time.Sleep(2 * time.Second) {
			h = appHPA(t, api, appNamespace)
			if h.Status.DesiredReplicas > 1 {
				scaledAfter = time.Since(loadStart)
			} else if time.Now().After(deadline) {
				t.Fatalf("no scale-up within 150 s of the load: %+v, ScalingActive %s, metric %v", h.Status, h.condition("ScalingActive"), customMetricValues(t, api, appNamespace, requestRateMetric))
			}
		}
		t.Logf("first scale-up %s after the load started (to %d replicas)", scaledAfter.Round(time.Second), h.Status.DesiredReplicas)
		if !strings.HasPrefix(h.condition("ScalingActive"), "True") {
			t.Errorf("HPA ScalingActive is %s", h.condition("ScalingActive"))
		}
		for _, metric := range []string{requestRateMetric, declaredMetric} {
			values := customMetricValues(t, api, appNamespace, metric)
			if len(values) == 0 {
				t.Errorf("the custom metrics API serves no %s under load", metric)
			}
			t.Logf("%s per pod under load: %v; the HPA read %q", metric, values, h.podsMetric(metric))
			if h.podsMetric(metric) == "" {
				t.Errorf("the HPA has no reading of %s: %+v", metric, h.Status.CurrentMetrics)
			}
			if samples, err := promQuery(t, tc.BinDir(), kubeconfig, metric); err != nil || len(samples) == 0 {
				t.Errorf("the recording rule %s has no series: %v", metric, err)
			}
		}
		if samples, err := promQuery(t, tc.BinDir(), kubeconfig, "sum(prometheus_rule_evaluation_failures_total)"); err != nil || len(samples) != 1 || samples[0].value() != 0 {
			t.Errorf("rule evaluation failures: %v %v, want 0", samples, err)
		}
		// On two shared cores a request may time out while a new replica starts; more than 1 % is a fault.
		out, ok := waitPodFinished(t, api, "ingress-nginx", load, 4*time.Minute)
		var answered, failed int
		if _, err := fmt.Sscanf(out, "answered %d failed %d", &answered, &failed); !ok || err != nil || failed*100 > answered+failed {
			t.Errorf("the load generator: %q", out)
		}
		t.Logf("the load generator: %s", out)
		waitForReplicas(t, api, appNamespace, 1, 5*time.Minute)
	})

	t.Run("the HPA scales on CPU through metrics-server", func(t *testing.T) {
		// 2 requests a second that each burn 150 ms of CPU: 300m against a 100m request, while the
		// request rate stays at the custom metric's target, so only CPU can scale the Deployment.
		load := startLoad(t, api, "cpu-load", internalURL+"/work?ms=150", 2, 150)
		sawCPU := 0
		for deadline := time.Now().Add(150 * time.Second); ; time.Sleep(2 * time.Second) {
			h := appHPA(t, api, appNamespace)
			sawCPU = max(sawCPU, h.cpuUtilization())
			if h.Status.DesiredReplicas > 1 && sawCPU > 70 {
				t.Logf("CPU at %d %% of requests: %d replicas wanted", sawCPU, h.Status.DesiredReplicas)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no CPU scale-up within 150 s: highest CPU reading %d %%, %+v", sawCPU, h.Status)
			}
		}
		waitPodFinished(t, api, "ingress-nginx", load, 4*time.Minute)
		waitForReplicas(t, api, appNamespace, 1, 5*time.Minute)
	})

	t.Run("a high error rate fires NexiosHighErrorRate, delivered to the webhook with the warning inhibited", func(t *testing.T) {
		// Only 5xx: the error ratio is 100 %, above both the warning's 5 % and the critical's 10 %.
		load := startLoad(t, api, "error-load", internalURL+"/error", 1, 120)
		var delivered *notification
		for deadline := time.Now().Add(5 * time.Minute); delivered == nil; time.Sleep(5 * time.Second) {
			for _, n := range receivedNotifications(t, api) {
				for _, a := range n.Alerts {
					if a.Labels["alertname"] == "NexiosHighErrorRate" && a.Status == "firing" && a.Labels["severity"] == "critical" {
						delivered = &n
					}
				}
			}
			if delivered == nil && time.Now().After(deadline) {
				t.Fatalf("no critical NexiosHighErrorRate reached the webhook within 5 minutes; received %+v", receivedNotifications(t, api))
			}
		}
		for _, a := range delivered.Alerts {
			if a.Labels["alertname"] != "NexiosHighErrorRate" {
				t.Errorf("a notification groups %s with NexiosHighErrorRate; grouping is by alert name", a.Labels["alertname"])
				continue
			}
			if a.Labels["namespace"] != appNamespace || a.Annotations["runbook"] == "" || a.Annotations["summary"] == "" {
				t.Errorf("delivered alert lacks its namespace, runbook or summary: %+v", a)
			}
		}
		alerts, err := alertmanagerAlerts(t, tc.BinDir(), kubeconfig)
		if err != nil {
			t.Fatalf("Alertmanager's alerts: %v", err)
		}
		warningInhibited := false
		for _, a := range alerts {
			if a.Labels["alertname"] == "NexiosHighErrorRate" && a.Labels["severity"] == "warning" {
				warningInhibited = a.Status.State == "suppressed" && len(a.Status.InhibitedBy) > 0
			}
		}
		if !warningInhibited {
			t.Errorf("the warning NexiosHighErrorRate is not inhibited by the critical one: %+v", alerts)
		}
		for _, n := range receivedNotifications(t, api) {
			for _, a := range n.Alerts {
				if a.Labels["alertname"] == "NexiosHighErrorRate" && a.Labels["severity"] == "warning" && a.Status == "firing" {
					t.Errorf("the inhibited warning reached the webhook: %+v", a)
				}
			}
		}
		waitPodFinished(t, api, "ingress-nginx", load, 3*time.Minute)
	})

	t.Run("a restarted cluster brings the same pods back", func(t *testing.T) {
		uids := podUIDs(t, api, appNamespace)
		// Container start times have whole seconds; the API keeps a stopped node's last status, so only
		// containers started after the stop prove the pods came back.
		stopped := time.Now().Truncate(time.Second)
		if err := cluster.Pause(ctx); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if err := cluster.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		deadline := time.Now().Add(3 * time.Minute)
		for {
			pods := listPods(t, api, appNamespace)
			same := len(pods) == len(uids)
			for _, pod := range pods {
				same = same && slices.Contains(uids, pod.Metadata.UID) && pod.ready()
				for _, c := range pod.Status.ContainerStatuses {
					same = same && c.State.Running != nil && !c.State.Running.StartedAt.Before(stopped)
				}
			}
			if same {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after a restart the app's pods are not the same ones Ready again: want %v, have %v", uids, describePods(pods))
			}
			time.Sleep(2 * time.Second)
		}
	})

	t.Run("removing the cluster leaves nothing behind", func(t *testing.T) {
		if err := cluster.Stop(ctx); err != nil {
			t.Fatalf("down: %v", err)
		}
		after := hostSnapshot(t)
		for what, have := range after {
			if want := before[what]; have != want {
				t.Errorf("%s differs after cluster-down:\nbefore:\n%s\nafter:\n%s", what, want, have)
			}
		}
	})
}

// hostSnapshot records what a real node may leave on the machine: processes of the node's
// binaries, mounts, network namespaces and interfaces, routes, the host's iptables rules and
// cgroups of the test's cluster.
func hostSnapshot(t *testing.T) map[string]string {
	t.Helper()
	output := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var processes []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		switch filepath.Base(exe) {
		case "containerd", "containerd-shim-runc-v2", "runc", "kube-controlplane", "kube-router", "kwok":
			processes = append(processes, exe)
		}
	}
	slices.Sort(processes)
	var mounts []string
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	for line := range strings.Lines(string(mountinfo)) {
		if fields := strings.Fields(line); len(fields) > 4 &&
			(strings.Contains(fields[4], realNodeCluster) || strings.HasPrefix(fields[4], "/run/netns/") || strings.HasPrefix(fields[4], "/run/nexios")) {
			mounts = append(mounts, fields[4])
		}
	}
	var cgroups []string
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*/nexios-" + realNodeCluster)
	cgroups = append(cgroups, hierarchies...)
	netns, _ := filepath.Glob("/run/netns/*")
	return map[string]string{
		"processes":      strings.Join(processes, "\n"),
		"mounts":         strings.Join(mounts, "\n"),
		"cgroups":        strings.Join(cgroups, "\n"),
		"netns":          strings.Join(netns, "\n"),
		"interfaces":     output("ip", "-o", "link", "show"),
		"routes":         output("ip", "route", "show"),
		"iptables rules": output("iptables-save"),
	}
}

// pod is what the test reads of a pod.
type pod struct {
	Metadata struct {
		Name string `json:"name"`
		UID  string `json:"uid"`
	} `json:"metadata"`
	Spec struct {
		NodeName        string `json:"nodeName"`
		SecurityContext struct {
			RunAsNonRoot *bool `json:"runAsNonRoot"`
		} `json:"securityContext"`
		Containers []struct {
			Image           string `json:"image"`
			SecurityContext struct {
				ReadOnlyRootFilesystem *bool `json:"readOnlyRootFilesystem"`
			} `json:"securityContext"`
		} `json:"containers"`
	} `json:"spec"`
	Status struct {
		Phase      string `json:"phase"`
		PodIP      string `json:"podIP"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
		ContainerStatuses []struct {
			Name         string `json:"name"`
			RestartCount int    `json:"restartCount"`
			State        struct {
				Running *struct {
					StartedAt time.Time `json:"startedAt"`
				} `json:"running"`
				Waiting    *struct{ Reason, Message string } `json:"waiting"`
				Terminated *struct {
					Reason   string
					ExitCode int
				} `json:"terminated"`
			} `json:"state"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

func (p pod) ready() bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

func (p pod) usesImage(name string) bool {
	for _, c := range p.Spec.Containers {
		if strings.Contains(c.Image, name) {
			return true
		}
	}
	return false
}

func (p pod) describe() string {
	var parts []string
	for _, c := range p.Status.ContainerStatuses {
		state := "running"
		switch {
		case c.State.Waiting != nil:
			state = "waiting: " + c.State.Waiting.Reason + " " + c.State.Waiting.Message
		case c.State.Terminated != nil:
			state = fmt.Sprintf("terminated: %s (exit %d)", c.State.Terminated.Reason, c.State.Terminated.ExitCode)
		}
		parts = append(parts, fmt.Sprintf("%s %s, %d restarts", c.Name, state, c.RestartCount))
	}
	return fmt.Sprintf("%s on %s [%s]", p.Status.Phase, p.Spec.NodeName, strings.Join(parts, "; "))
}

func describePods(pods []pod) string {
	var parts []string
	for _, p := range pods {
		parts = append(parts, p.Metadata.Name+" "+p.Metadata.UID+" "+p.describe())
	}
	return strings.Join(parts, "\n")
}

// appPods lists the pods of the example app in namespace, leaving out the stack's other pods there
// (the dev profile's PostgreSQL).
func appPods(t *testing.T, api apiClient, namespace string) []pod {
	t.Helper()
	var pods []pod
	for _, p := range listPods(t, api, namespace) {
		if p.usesImage(exampleAppImage) {
			pods = append(pods, p)
		}
	}
	return pods
}

func listPods(t *testing.T, api apiClient, namespace string) []pod {
	t.Helper()
	var list struct {
		Items []pod `json:"items"`
	}
	if code := api.get(t, "/api/v1/namespaces/"+namespace+"/pods", &list); code != http.StatusOK {
		t.Fatalf("GET pods in %s: HTTP %d", namespace, code)
	}
	return list.Items
}

// realNodeMonitoring puts Prometheus' data on a volume claim, as prod sizing does, so that the
// config change proves the data outlives the pod.
var realNodeMonitoring = map[string]any{"storageSize": "2Gi"}

// prometheusPodUID is the UID of the running Prometheus pod.
func prometheusPodUID(t *testing.T, api apiClient) string {
	t.Helper()
	for _, p := range listPods(t, api, "monitoring") {
		if p.usesImage("/prometheus:") && p.Status.Phase == "Running" {
			return p.Metadata.UID
		}
	}
	t.Fatal("no running Prometheus pod in monitoring")
	return ""
}

func podUIDs(t *testing.T, api apiClient, namespace string) []string {
	t.Helper()
	var uids []string
	for _, p := range listPods(t, api, namespace) {
		uids = append(uids, p.Metadata.UID)
	}
	if len(uids) == 0 {
		t.Fatalf("no pods in %s", namespace)
	}
	return uids
}

// clientScript requests a URL (with the method given after it, GET by default), each try with a
// 5-second timeout, and prints the body, or the last error after 30 seconds of tries: the
// NetworkPolicy controller admits a new pod's address a moment after the pod starts.
const clientScript = `import sys, time, urllib.request
method = sys.argv[2] if len(sys.argv) > 2 else "GET"
deadline = time.monotonic() + 30
while True:
    try:
        request = urllib.request.Request(sys.argv[1], method=method, data=b"" if method == "POST" else None)
        print(urllib.request.urlopen(request, timeout=5).read().decode())
        break
    except Exception as e:
        if time.monotonic() > deadline:
            print("failed:", e)
            sys.exit(1)
        time.sleep(1)
`

// clientPod is a one-shot pod of the example app's image, whose python3 requests url with method;
// privileged makes it one that Pod Security restricted refuses.
func clientPod(name, method, url string, privileged bool) string {
	container := restrictedContainer(clientScript, url, method)
	if privileged {
		container["securityContext"] = map[string]any{"privileged": true}
	}
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"restartPolicy": "Never",
			"containers":    []any{container},
		},
	})
	return string(body)
}

// runClientPod runs clientPod in namespace (created if needed) and returns its output and whether it
// succeeded.
func runClientPod(t *testing.T, api apiClient, namespace, name, method, url string) (string, bool) {
	t.Helper()
	createNamespace(t, api, namespace)
	if code, body := api.send(t, http.MethodPost, "/api/v1/namespaces/"+namespace+"/pods", clientPod(name, method, url, false)); code != http.StatusCreated {
		t.Fatalf("creating pod %s/%s: HTTP %d %s", namespace, name, code, body)
	}
	return waitPodFinished(t, api, namespace, name, 2*time.Minute)
}

// send makes a request with a JSON body (none when empty) and returns the status and body.
func (c apiClient) send(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, c.server+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.String()
}

// nodeIPOnLink is the real node's address, where its kubelet serves its metrics and cAdvisor's.
const nodeIPOnLink = "10.253.0.2:"

// target is one of Prometheus' active scrape targets.
type target struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
}

// prometheusTargets asks the running Prometheus for its targets from inside its own pod (kubectl
// exec, busybox's wget): the monitoring namespace's policies admit no other client to it.
func prometheusTargets(t *testing.T, binDir, kubeconfig string) []target {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), filepath.Join(binDir, "kubectl"), "--kubeconfig", kubeconfig,
		"-n", "monitoring", "exec", "statefulset/"+prometheusStatefulSet(t, binDir, kubeconfig), "-c", "prometheus", "--",
		"wget", "-qO-", "http://localhost:9090/api/v1/targets?state=active").Output()
	if err != nil {
		t.Logf("asking Prometheus for its targets: %v", err)
		return nil
	}
	var response struct {
		Data struct {
			ActiveTargets []target `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &response); err != nil {
		t.Fatalf("Prometheus' targets: %v: %s", err, out)
	}
	return response.Data.ActiveTargets
}

func prometheusStatefulSet(t *testing.T, binDir, kubeconfig string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), filepath.Join(binDir, "kubectl"), "--kubeconfig", kubeconfig,
		"-n", "monitoring", "get", "statefulsets", "-l", "app.kubernetes.io/name=prometheus", "-o", "jsonpath={.items[0].metadata.name}").Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("finding Prometheus' StatefulSet: %v %s", err, out)
	}
	return string(out)
}

// serviceEndpointsReady counts the ready endpoints of a Service's EndpointSlices.
func serviceEndpointsReady(t *testing.T, api apiClient, namespace, service string) int {
	t.Helper()
	var list struct {
		Items []struct {
			Endpoints []struct {
				Conditions struct {
					Ready *bool `json:"ready"`
				} `json:"conditions"`
			} `json:"endpoints"`
		} `json:"items"`
	}
	path := "/apis/discovery.k8s.io/v1/namespaces/" + namespace + "/endpointslices?labelSelector=kubernetes.io/service-name=" + service
	if code := api.get(t, path, &list); code != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", path, code)
	}
	ready := 0
	for _, slice := range list.Items {
		for _, e := range slice.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				ready++
			}
		}
	}
	return ready
}
