package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The monitoring loop on the real node: what TestRealNode's autoscaling and alerting subtests use.

// loopAutoscaling is the test stack's HPA: the course's 70 % CPU and a request-rate target low enough
// for a small bounded load to exceed, with a scale-down that follows the load within a minute instead
// of the profile's five.
var loopAutoscaling = map[string]any{
	"enabled":        true,
	"minReplicas":    1,
	"maxReplicas":    4,
	"cpuUtilization": 70,
	"customMetrics":  map[string]any{requestRateMetric: requestRateTarget, declaredMetric: declaredTarget},
	// A metric of the stack's own, through the same declaration as the built-in one.
	"metricDefinitions": map[string]any{declaredMetric: map[string]any{
		"query": `sum by (namespace, pod) (rate(http_requests_total{$app, path="/"}[2m]))`,
		"title": "Requests to / per second per pod",
		"unit":  "reqps",
	}},
	"behavior": map[string]any{
		"scaleDownStabilizationSeconds": 0,
		"scaleDownPercent":              100,
		"periodSeconds":                 15,
	},
}

// loopMonitoring shortens the error-rate alert's `for` so the test sees it fire.
var loopMonitoring = map[string]any{"alerts": map[string]any{"errorRateForMinutes": 1}}

const (
	requestRateMetric = "http_requests_per_second"
	requestRateTarget = 2
	declaredMetric    = "root_requests_per_second"
	declaredTarget    = 3
	// receiverNamespace holds the in-cluster webhook that Alertmanager delivers to.
	receiverNamespace = "alert-receiver"
	receiverPort      = 8080
)

// loadScript sends GET requests to a URL at a fixed rate for a fixed time from as many threads as
// needed, then prints how many were answered (any HTTP status) and exits: a bounded load that stops
// by itself.
const loadScript = `import sys, threading, time, urllib.error, urllib.request
url, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
answered, failed, lock = 0, 0, threading.Lock()
def one():
    global answered, failed
    try:
        urllib.request.urlopen(url, timeout=10).read()
        ok = True
    except urllib.error.HTTPError:
        ok = True
    except Exception:
        ok = False
    with lock:
        if ok:
            answered += 1
        else:
            failed += 1
threads, start = [], time.monotonic()
for i in range(int(rate * seconds)):
    time.sleep(max(0, start + i / rate - time.monotonic()))
    thread = threading.Thread(target=one)
    thread.start()
    threads.append(thread)
for thread in threads:
    thread.join()
print("answered", answered, "failed", failed)
`

// receiverScript is an Alertmanager webhook receiver: it prints each notification's JSON on one line.
const receiverScript = `import http.server, json
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        print(json.dumps(json.loads(body)), flush=True)
        self.send_response(200)
        self.end_headers()
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("", 8080), Receiver).serve_forever()
`

// restrictedContainer is a container of the example app's image running python3 with args, under
// the restricted Pod Security profile.
func restrictedContainer(args ...string) map[string]any {
	return map[string]any{
		"name":    "main",
		"image":   exampleAppImage,
		"command": append([]string{"python3", "-c"}, args...),
		"securityContext": map[string]any{
			"allowPrivilegeEscalation": false,
			"runAsNonRoot":             true,
			"runAsUser":                10001,
			"capabilities":             map[string]any{"drop": []string{"ALL"}},
			"seccompProfile":           map[string]string{"type": "RuntimeDefault"},
		},
	}
}

func createNamespace(t *testing.T, api apiClient, namespace string) {
	t.Helper()
	if code, body := api.send(t, http.MethodPost, "/api/v1/namespaces", fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, namespace)); code != http.StatusCreated && code != http.StatusConflict {
		t.Fatalf("creating namespace %s: HTTP %d %s", namespace, code, body)
	}
}

func createObject(t *testing.T, api apiClient, path string, object map[string]any) {
	t.Helper()
	body, err := json.Marshal(object)
	if err != nil {
		t.Fatalf("encoding %s: %v", path, err)
	}
	if code, out := api.send(t, http.MethodPost, path, string(body)); code != http.StatusCreated {
		t.Fatalf("POST %s: HTTP %d %s", path, code, out)
	}
}

// startLoad starts a load pod in ingress-nginx (a namespace the app's policy admits) that requests
// url at rate per second for seconds, and returns its name.
func startLoad(t *testing.T, api apiClient, name, url string, rate float64, seconds int) string {
	t.Helper()
	createNamespace(t, api, "ingress-nginx")
	createObject(t, api, "/api/v1/namespaces/ingress-nginx/pods", map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"restartPolicy": "Never",
			"containers":    []any{restrictedContainer(loadScript, url, strconv.FormatFloat(rate, 'f', -1, 64), strconv.Itoa(seconds))},
		},
	})
	return name
}

// waitPodFinished waits for a run-once pod to end and returns its log and whether it succeeded.
func waitPodFinished(t *testing.T, api apiClient, namespace, name string, limit time.Duration) (string, bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var p pod
		if code := api.get(t, "/api/v1/namespaces/"+namespace+"/pods/"+name, &p); code != http.StatusOK {
			t.Fatalf("GET pod %s/%s: HTTP %d", namespace, name, code)
		}
		if p.Status.Phase == "Succeeded" || p.Status.Phase == "Failed" {
			_, logs := api.send(t, http.MethodGet, "/api/v1/namespaces/"+namespace+"/pods/"+name+"/log", "")
			return strings.TrimSpace(logs), p.Status.Phase == "Succeeded"
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s did not finish within %s: %s", namespace, name, limit, p.describe())
		}
		time.Sleep(time.Second)
	}
}

// startAlertReceiver runs the webhook receiver behind a Service and returns its in-cluster URL.
func startAlertReceiver(t *testing.T, api apiClient) string {
	t.Helper()
	createNamespace(t, api, receiverNamespace)
	labels := map[string]string{"app": "receiver"}
	container := restrictedContainer(receiverScript)
	container["ports"] = []any{map[string]any{"name": "http", "containerPort": receiverPort}}
	container["readinessProbe"] = map[string]any{"httpGet": map[string]any{"path": "/", "port": "http"}, "periodSeconds": 2}
	createObject(t, api, "/api/v1/namespaces/"+receiverNamespace+"/pods", map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   map[string]any{"name": "receiver", "labels": labels},
		"spec":       map[string]any{"containers": []any{container}},
	})
	createObject(t, api, "/api/v1/namespaces/"+receiverNamespace+"/services", map[string]any{
		"apiVersion": "v1",
		"kind":       "Service",
		"metadata":   map[string]any{"name": "receiver"},
		"spec": map[string]any{
			"selector": labels,
			"ports":    []any{map[string]any{"name": "http", "port": receiverPort, "targetPort": "http"}},
		},
	})
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(2 * time.Second) {
		var p pod
		if code := api.get(t, "/api/v1/namespaces/"+receiverNamespace+"/pods/receiver", &p); code == http.StatusOK && p.ready() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the alert receiver is not Ready")
		}
	}
	return fmt.Sprintf("http://receiver.%s.svc.cluster.local:%d/", receiverNamespace, receiverPort)
}

// notification is what Alertmanager's webhook integration posts.
type notification struct {
	Status string `json:"status"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

// receivedNotifications reads every notification the receiver printed.
func receivedNotifications(t *testing.T, api apiClient) []notification {
	t.Helper()
	code, logs := api.send(t, http.MethodGet, "/api/v1/namespaces/"+receiverNamespace+"/pods/receiver/log", "")
	if code != http.StatusOK {
		t.Fatalf("reading the receiver's log: HTTP %d %s", code, logs)
	}
	var out []notification
	for line := range strings.Lines(logs) {
		var n notification
		if err := json.Unmarshal([]byte(line), &n); err != nil {
			t.Fatalf("the receiver printed %q: %v", line, err)
		}
		out = append(out, n)
	}
	return out
}

// hpa is what the tests read of the app's HorizontalPodAutoscaler.
type hpa struct {
	Status struct {
		CurrentReplicas int `json:"currentReplicas"`
		DesiredReplicas int `json:"desiredReplicas"`
		Conditions      []struct {
			Type    string `json:"type"`
			Status  string `json:"status"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"conditions"`
		CurrentMetrics []struct {
			Type     string `json:"type"`
			Resource *struct {
				Name    string `json:"name"`
				Current struct {
					AverageUtilization int `json:"averageUtilization"`
				} `json:"current"`
			} `json:"resource"`
			Pods *struct {
				Metric struct {
					Name string `json:"name"`
				} `json:"metric"`
				Current struct {
					AverageValue string `json:"averageValue"`
				} `json:"current"`
			} `json:"pods"`
		} `json:"currentMetrics"`
	} `json:"status"`
}

func appHPA(t *testing.T, api apiClient, namespace string) hpa {
	t.Helper()
	var list struct {
		Items []hpa `json:"items"`
	}
	if code := api.get(t, "/apis/autoscaling/v2/namespaces/"+namespace+"/horizontalpodautoscalers", &list); code != http.StatusOK {
		t.Fatalf("GET HPAs in %s: HTTP %d", namespace, code)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d HPAs in %s, want the app's one", len(list.Items), namespace)
	}
	return list.Items[0]
}

func (h hpa) condition(kind string) string {
	for _, c := range h.Status.Conditions {
		if c.Type == kind {
			return c.Status + " (" + c.Reason + ": " + c.Message + ")"
		}
	}
	return "absent"
}

// podsMetric is the HPA's last reading of a Pods metric, empty without one.
func (h hpa) podsMetric(name string) string {
	for _, m := range h.Status.CurrentMetrics {
		if m.Pods != nil && m.Pods.Metric.Name == name {
			return m.Pods.Current.AverageValue
		}
	}
	return ""
}

// cpuUtilization is the HPA's last CPU reading in percent of requests, -1 without one.
func (h hpa) cpuUtilization() int {
	for _, m := range h.Status.CurrentMetrics {
		if m.Resource != nil && m.Resource.Name == "cpu" {
			return m.Resource.Current.AverageUtilization
		}
	}
	return -1
}

// customMetricValues reads a scaling metric of every app pod from the custom metrics API, as the HPA
// does.
func customMetricValues(t *testing.T, api apiClient, namespace, metric string) map[string]string {
	t.Helper()
	var list struct {
		Items []struct {
			DescribedObject struct {
				Name string `json:"name"`
			} `json:"describedObject"`
			Value string `json:"value"`
		} `json:"items"`
	}
	path := "/apis/custom.metrics.k8s.io/v1beta1/namespaces/" + namespace + "/pods/*/" + metric
	if code := api.get(t, path, &list); code != http.StatusOK {
		return nil
	}
	values := map[string]string{}
	for _, item := range list.Items {
		values[item.DescribedObject.Name] = item.Value
	}
	return values
}

// inMonitoringPod runs busybox's wget for url inside the first pod of a monitoring StatefulSet
// (prometheus or alertmanager): the monitoring namespace's policies admit no client from outside.
func inMonitoringPod(t *testing.T, binDir, kubeconfig, workload, url string) ([]byte, error) {
	t.Helper()
	kubectl := func(args ...string) ([]byte, error) {
		return exec.CommandContext(t.Context(), filepath.Join(binDir, "kubectl"), append([]string{"--kubeconfig", kubeconfig, "-n", "monitoring"}, args...)...).Output()
	}
	name, err := kubectl("get", "statefulsets", "-l", "app.kubernetes.io/name="+workload, "-o", "jsonpath={.items[0].metadata.name}")
	if err != nil || len(name) == 0 {
		return nil, fmt.Errorf("finding the %s StatefulSet: %v %s", workload, err, name)
	}
	return kubectl("exec", "statefulset/"+string(name), "-c", workload, "--", "wget", "-qO-", url)
}

// promQuery runs an instant PromQL query in the running Prometheus and returns its vector result.
func promQuery(t *testing.T, binDir, kubeconfig, query string) ([]promSample, error) {
	t.Helper()
	return promQueryAt(t, binDir, kubeconfig, query, time.Time{})
}

// promQueryAt is promQuery evaluated at the given time (now when zero).
func promQueryAt(t *testing.T, binDir, kubeconfig, query string, at time.Time) ([]promSample, error) {
	t.Helper()
	params := url.Values{"query": {query}}
	if !at.IsZero() {
		params.Set("time", strconv.FormatInt(at.Unix(), 10))
	}
	out, err := inMonitoringPod(t, binDir, kubeconfig, "prometheus", "http://localhost:9090/api/v1/query?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	var response struct {
		Status string `json:"status"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &response); err != nil || response.Status != "success" {
		return nil, fmt.Errorf("query %s: %v: %s", query, err, out)
	}
	return response.Data.Result, nil
}

// promSample is one series of an instant query's result.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) value() float64 {
	text, _ := s.Value[1].(string)
	v, _ := strconv.ParseFloat(text, 64)
	return v
}

// ruleFor returns the `for` duration (seconds) of every loaded rule named alert in the running
// Prometheus, by severity.
func ruleFor(t *testing.T, binDir, kubeconfig, alert string) (map[string]float64, error) {
	t.Helper()
	out, err := inMonitoringPod(t, binDir, kubeconfig, "prometheus", "http://localhost:9090/api/v1/rules?type=alert")
	if err != nil {
		return nil, err
	}
	var response struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name     string            `json:"name"`
					Duration float64           `json:"duration"`
					Labels   map[string]string `json:"labels"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &response); err != nil {
		return nil, fmt.Errorf("rules: %v: %s", err, out)
	}
	durations := map[string]float64{}
	for _, g := range response.Data.Groups {
		for _, r := range g.Rules {
			if r.Name == alert {
				durations[r.Labels["severity"]] = r.Duration
			}
		}
	}
	return durations, nil
}

// amAlert is one alert as Alertmanager's API v2 lists it.
type amAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

func alertmanagerAlerts(t *testing.T, binDir, kubeconfig string) ([]amAlert, error) {
	t.Helper()
	out, err := inMonitoringPod(t, binDir, kubeconfig, "alertmanager", "http://localhost:9093/api/v2/alerts")
	if err != nil {
		return nil, err
	}
	var alerts []amAlert
	if err := json.Unmarshal(out, &alerts); err != nil {
		return nil, fmt.Errorf("alerts: %v: %s", err, out)
	}
	return alerts, nil
}

// alertmanagerConfig returns the configuration the running Alertmanager has loaded.
func alertmanagerConfig(t *testing.T, binDir, kubeconfig string) (string, error) {
	t.Helper()
	out, err := inMonitoringPod(t, binDir, kubeconfig, "alertmanager", "http://localhost:9093/api/v2/status")
	if err != nil {
		return "", err
	}
	var status struct {
		Config struct {
			Original string `json:"original"`
		} `json:"config"`
	}
	if err := json.Unmarshal(out, &status); err != nil {
		return "", fmt.Errorf("status: %v: %s", err, out)
	}
	return status.Config.Original, nil
}

// waitForReplicas waits for the app's HPA to settle at want replicas, all of them Ready.
func waitForReplicas(t *testing.T, api apiClient, namespace string, want int, limit time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(5 * time.Second) {
		h := appHPA(t, api, namespace)
		pods := appPods(t, api, namespace)
		ready := 0
		for _, p := range pods {
			if p.ready() {
				ready++
			}
		}
		if h.Status.CurrentReplicas == want && len(pods) == want && ready == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app did not settle at %d replicas within %s: HPA %+v, pods %s", want, limit, h.Status, describePods(pods))
		}
	}
}
