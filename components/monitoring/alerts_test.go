package monitoring

import (
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/stacks"
)

// promtool's rule unit test file (https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/).
type ruleTestFile struct {
	RuleFiles          []string        `yaml:"rule_files"`
	EvaluationInterval string          `yaml:"evaluation_interval"`
	Tests              []ruleTestGroup `yaml:"tests"`
	// FuzzyCompare takes a value one ulp away as equal: a rate over a few samples lands there.
	FuzzyCompare bool `yaml:"fuzzy_compare"`
}

type ruleTestGroup struct {
	Name           string          `yaml:"name"`
	Interval       string          `yaml:"interval"`
	InputSeries    []inputSeries   `yaml:"input_series"`
	AlertRuleTests []alertRuleTest `yaml:"alert_rule_test,omitempty"`
	PromQLTests    []promQLTest    `yaml:"promql_expr_test,omitempty"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertRuleTest struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	ExpAlerts []expAlert `yaml:"exp_alerts"`
}

// expAlert is a firing alert: every label but alertname, and every annotation, expanded.
type expAlert struct {
	Labels      map[string]string `yaml:"exp_labels"`
	Annotations map[string]string `yaml:"exp_annotations"`
}

type promQLTest struct {
	Expr       string      `yaml:"expr"`
	EvalTime   string      `yaml:"eval_time"`
	ExpSamples []expSample `yaml:"exp_samples"`
}

type expSample struct {
	Labels string  `yaml:"labels"`
	Value  float64 `yaml:"value"`
}

// scenario is a run of input series and, at each check's time, every firing alert of the alert's name
// (a check with no alert says none fires). Series are scraped every scrapeInterval from 0 for
// runMinutes; rules are evaluated every evaluationInterval, as prometheus.yaml says.
type scenario struct {
	series []inputSeries
	checks []check
	exprs  []promQLTest
}

type check struct {
	at   string
	want []expAlert
}

const (
	runMinutes     = 100
	samplesPerMin  = 2 // scrapeInterval is 30s: TestAlertRules checks
	samplesPerRun  = runMinutes * samplesPerMin
	devNamespace   = "nexios-dev"
	monNamespace   = "monitoring"
	appJob         = "nexios"
	hpaName        = "nexios"
	scalingMetric  = "http_requests_per_second"
	scalingTarget  = "50"
	promRulesGroup = prometheusRulesDir + "/" + rulesFileName + ";nexios-app"
	podA           = "nexios-7d9c5-abcde"
	podB           = "nexios-7d9c5-fghij"
	podC           = "nexios-7d9c5-klmno"
)

// flat is a series holding v for the whole run.
func flat(v float64) string { return fmt.Sprintf("%gx%d", v, samplesPerRun-1) }

// perMinute is a counter growing from 0 by inc every minute.
func perMinute(inc float64) string {
	return fmt.Sprintf("0+%gx%d", inc/samplesPerMin, samplesPerRun-1)
}

// between is a series at inside from minute from until minute to, at outside the rest of the run.
func between(from, to int, inside, outside float64) string {
	return sampled(func(minute float64) float64 {
		if minute >= float64(from) && minute < float64(to) {
			return inside
		}
		return outside
	})
}

// counterSteps is a counter at 0 that rises by 1 at each given minute.
func counterSteps(atMinutes ...int) string {
	return sampled(func(minute float64) float64 {
		n := 0
		for _, m := range atMinutes {
			if minute >= float64(m) {
				n++
			}
		}
		return float64(n)
	})
}

// sampled is a series whose every sample is value(the minute it is taken at).
func sampled(value func(minute float64) float64) string {
	values := make([]string, samplesPerRun)
	for i := range values {
		values[i] = fmt.Sprint(value(float64(i) / samplesPerMin))
	}
	return strings.Join(values, " ")
}

// everyMinutes is a counter at 0 that rises by 1 every n minutes.
func everyMinutes(n int) string {
	var at []int
	for m := n; m < runMinutes; m += n {
		at = append(at, m)
	}
	return counterSteps(at...)
}

// labels are a series' labels from name, value pairs, on top of base's.
func labels(base map[string]string, pairs ...string) map[string]string {
	l := maps.Clone(base)
	if l == nil {
		l = map[string]string{}
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		l[pairs[i]] = pairs[i+1]
	}
	return l
}

func in(name string, l map[string]string, values string) inputSeries {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, l[k]))
	}
	return inputSeries{Series: name + "{" + strings.Join(parts, ", ") + "}", Values: values}
}

// appPod are the labels the app's scrape job gives a pod's series.
func appPod(pod string) map[string]string {
	return labels(nil, "job", appJob, "namespace", devNamespace, "pod", pod, "container", "nexios", "instance", podIPs[pod]+":8000")
}

var podIPs = map[string]string{podA: "10.244.0.11", podB: "10.244.0.12", podC: "10.244.0.13"}

// ksm are the labels of a kube-state-metrics series about an object (honor_labels keeps them).
func ksm(pairs ...string) map[string]string {
	return labels(map[string]string{"job": "kube-state-metrics", "instance": "10.244.0.7:8080"}, pairs...)
}

// requests are the app's http_requests_total counters of one pod, per status, in requests a minute.
func requests(pod map[string]string, perStatus map[string]float64) []inputSeries {
	var out []inputSeries
	for _, status := range slices.Sorted(maps.Keys(perStatus)) {
		out = append(out, in("http_requests_total", labels(pod, "method", "GET", "path", "/items", "status", status), perMinute(perStatus[status])))
	}
	return out
}

// latency is the app's request duration histogram of one pod: cumulative requests a minute per bucket.
func latency(pod map[string]string, buckets map[string]float64) []inputSeries {
	var out []inputSeries
	for _, le := range slices.Sorted(maps.Keys(buckets)) {
		out = append(out, in("http_request_duration_seconds_bucket", labels(pod, "method", "GET", "path", "/items", "le", le), perMinute(buckets[le])))
	}
	return out
}

// firing is an alert with the series' labels, the rule's and its annotations but the runbook link, which
// group adds.
func firing(l map[string]string, severity, summary, description, runbook string, ruleLabels ...string) expAlert {
	return expAlert{
		Labels:      labels(l, append([]string{"severity", severity}, ruleLabels...)...),
		Annotations: map[string]string{"summary": summary, "description": description, "runbook": runbook},
	}
}

// The alerts as the dev profile's thresholds make them fire: every label and annotation, expanded.
func targetDownWarning(pod string) expAlert {
	return firing(appPod(pod), severityWarning, "A Nexios pod does not answer scrapes",
		pod+" in nexios-dev has not answered Prometheus for 5 minutes.",
		"Check the pod's events and logs (kubectl -n nexios-dev describe pod "+pod+"); a failing readiness probe or a crash loop usually explains it.")
}

func targetDownCritical() expAlert {
	return firing(labels(nil, "namespace", devNamespace), severityCritical, "No Nexios pod answers scrapes",
		"Every Nexios pod in nexios-dev is down: the app is unavailable.",
		"Look at the Deployment's rollout and the pods' events; roll back with `kubectl rollout undo` if a release caused it.")
}

func errorRateWarning(percent string) expAlert {
	return firing(labels(nil, "namespace", devNamespace), severityWarning, "Nexios answers too many 5xx",
		percent+"% of requests in nexios-dev fail with 5xx (threshold 5%).",
		"Open the Nexios dashboard's error panel and the app's logs for the failing routes; check the database and recent deployments.")
}

func errorRateCritical(percent string) expAlert {
	return firing(labels(nil, "namespace", devNamespace), severityCritical, "Nexios fails a large share of requests",
		percent+"% of requests in nexios-dev fail with 5xx (twice the 5% threshold).",
		"Roll back the last release if it coincides; otherwise check the database and the app's dependencies.")
}

func latencyWarning(seconds string) expAlert {
	return firing(labels(nil, "namespace", devNamespace), severityWarning, "Nexios p95 latency is high",
		"p95 latency in nexios-dev is "+seconds+"s (threshold 0.5s).",
		"Compare request rate, CPU against limits and replicas on the dashboard: saturation wants more replicas, a slow dependency wants its owner.")
}

func latencyCritical(seconds string) expAlert {
	return firing(labels(nil, "namespace", devNamespace), severityCritical, "Nexios p95 latency is very high",
		"p95 latency in nexios-dev is "+seconds+"s (twice the 0.5s threshold).",
		"Scale out by hand if the HPA is at its maximum; check slow queries and dependencies.")
}

func hpaAtMaxWarning() expAlert {
	return firing(ksm("namespace", devNamespace, "horizontalpodautoscaler", hpaName), severityWarning, "The HPA is pinned at its maximum",
		hpaName+" in nexios-dev has run at maxReplicas for 15 minutes: it cannot add capacity.",
		"Raise app.autoscaling.maxReplicas (and the quota) if the load is real, or find what makes each pod slow.")
}

func hpaAtMaxCritical() expAlert {
	return firing(ksm("namespace", devNamespace, "horizontalpodautoscaler", hpaName), severityCritical,
		"The HPA is at its maximum and http_requests_per_second is above its target",
		hpaName+" in nexios-dev is at maxReplicas and the pods average more than the target of 50 http_requests_per_second: users feel the load.",
		"Raise app.autoscaling.maxReplicas now (pulumi config set --path app.autoscaling.maxReplicas N), check node capacity and the quota, then find the source of the load.",
		"metric", scalingMetric)
}

func monitoringTargetDown(labels map[string]string) expAlert {
	return firing(labels, severityWarning, "A monitoring target does not answer scrapes",
		"Job "+labels["job"]+" target "+labels["instance"]+" has been down for 10 minutes; its alerts and panels are blind.",
		"Check the target's pod (or the API server and kubelets for those jobs) and the monitoring namespace's NetworkPolicies.")
}

func restartLoop(namespace, pod, container, times string) expAlert {
	return firing(ksm("namespace", namespace, "pod", pod, "container", container), severityWarning, "A container restarts repeatedly",
		container+" in "+namespace+"/"+pod+" restarted "+times+" times in the last hour (threshold 3).",
		"Read the previous container's logs (kubectl logs --previous) and the pod's events: OOMKilled wants a higher memory limit, a failing probe wants its timings or the app fixed.")
}

func deploymentWarning(namespace, deployment, unavailable string) expAlert {
	return firing(ksm("namespace", namespace, "deployment", deployment), severityWarning, "A Deployment is missing replicas",
		deployment+" in "+namespace+" has had "+unavailable+" unavailable replicas for 10 minutes.",
		"Describe the Deployment's pods: Pending means no room or an unbound volume, CrashLoopBackOff means the container fails.")
}

func deploymentCritical(namespace, deployment string) expAlert {
	return firing(ksm("namespace", namespace, "deployment", deployment), severityCritical, "A Deployment has no available replica",
		deployment+" in "+namespace+" has no available replica: it serves nothing.",
		"Same as the warning, urgently; roll back the last change to the Deployment if it coincides.")
}

func statefulSetWarning(namespace, statefulSet string) expAlert {
	return firing(ksm("namespace", namespace, "statefulset", statefulSet), severityWarning, "A StatefulSet is missing replicas",
		statefulSet+" in "+namespace+" has fewer ready replicas than desired.",
		"Describe its pods; a Pending pod with a PersistentVolumeClaim usually waits for storage.")
}

func pvcWarning(labels map[string]string, percent string) expAlert {
	return firing(labels, severityWarning, "A PersistentVolumeClaim is nearly full",
		labels["persistentvolumeclaim"]+" in "+labels["namespace"]+" is "+percent+"% full (threshold 85%).",
		"Expand the claim (if its StorageClass allows) or lower retention; for Prometheus, retentionSize bounds the TSDB below the volume's size.")
}

func ruleFailures(group string) expAlert {
	return firing(labels(prometheusSelf, "rule_group", group), severityWarning, "Prometheus fails to evaluate rules",
		"Rule group "+group+" fails to evaluate: some alerts cannot fire.",
		"Read Prometheus' log for the failing expression; usually a series changed its labels.")
}

func notificationsFailing(integration string) expAlert {
	return firing(labels(alertmanagerPod, "integration", integration, "reason", "serverError"),
		severityCritical, "Alertmanager cannot deliver notifications",
		"Integration "+integration+" fails to deliver: nobody hears about alerts.",
		"Check the webhook and Slack URLs in the stack config and Alertmanager's log.")
}

var (
	prometheusSelf  = labels(nil, "job", "prometheus", "instance", "localhost:9090")
	alertmanagerPod = labels(nil, "job", "alertmanager", "namespace", monNamespace, "pod", "nexios-monitoring-alertmanager-0", "container", "alertmanager", "instance", "10.244.0.8:9093")
	prometheusPVC   = labels(nil, "job", "kubelet", "node", "nexios-real-0", "namespace", monNamespace, "persistentvolumeclaim", "data-nexios-monitoring-prometheus-0")
	loggingPVC      = labels(nil, "job", "kubelet", "node", "nexios-real-0", "namespace", "logging", "persistentvolumeclaim", "data-elasticsearch-0")
)

// alertCase is one alerting rule, known by its name and severity: a scenario where it fires, after its
// `for`, with the labels and annotations it is meant to carry, and one where it stays silent although
// something like it happens (below the threshold, for less than `for`, or outside its selector).
type alertCase struct {
	alert, severity string
	fires, silent   scenario
}

func alertCases() []alertCase {
	hpa := func(current string, target float64) []inputSeries {
		l := ksm("namespace", devNamespace, "horizontalpodautoscaler", hpaName)
		return []inputSeries{
			in("kube_horizontalpodautoscaler_status_current_replicas", l, current),
			in("kube_horizontalpodautoscaler_spec_max_replicas", l, flat(3)),
			in("kube_horizontalpodautoscaler_spec_min_replicas", l, flat(1)),
			in("kube_horizontalpodautoscaler_spec_target_metric", labels(l, "metric_name", scalingMetric, "metric_target_type", "average"), flat(target)),
			// A CPU target above the pods' rate: the alert must compare with the scaling metric's own target.
			in("kube_horizontalpodautoscaler_spec_target_metric", labels(l, "metric_name", "cpu", "metric_target_type", "utilization"), flat(70)),
		}
	}
	// Three pods answering perSecond requests each.
	load := func(perSecond float64) []inputSeries {
		var out []inputSeries
		for _, pod := range []string{podA, podB, podC} {
			out = append(out, requests(appPod(pod), map[string]float64{"200": perSecond * 60})...)
		}
		return out
	}
	deployment := func(namespace, name string, spec, available, unavailable string) []inputSeries {
		l := ksm("namespace", namespace, "deployment", name)
		return []inputSeries{
			in("kube_deployment_spec_replicas", l, spec),
			in("kube_deployment_status_replicas_available", l, available),
			in("kube_deployment_status_replicas_unavailable", l, unavailable),
		}
	}
	statefulSet := func(namespace, name string, replicas, ready string) []inputSeries {
		l := ksm("namespace", namespace, "statefulset", name)
		return []inputSeries{in("kube_statefulset_replicas", l, replicas), in("kube_statefulset_status_replicas_ready", l, ready)}
	}
	restarts := func(namespace, pod, container, values string) inputSeries {
		return in("kube_pod_container_status_restarts_total", ksm("namespace", namespace, "pod", pod, "container", container), values)
	}
	ruleGroup := func(group string) map[string]string { return labels(prometheusSelf, "rule_group", group) }
	integration := func(name string) map[string]string {
		return labels(alertmanagerPod, "integration", name, "reason", "serverError")
	}
	ksmUp := labels(nil, "job", "kube-state-metrics", "namespace", monNamespace, "pod", "nexios-monitoring-kube-state-metrics-5f7c9-xyz12", "container", "kube-state-metrics", "instance", "10.244.0.7:8080")
	// Another namespace's app and another job in the app's namespace, which the app's alerts must not see.
	otherNamespace := labels(appPod(podA), "namespace", "nexios-staging")
	otherJob := labels(nil, "job", "billing", "namespace", devNamespace, "pod", "billing-1", "instance", "10.244.0.51:8000")

	return []alertCase{
		{
			alert: "NexiosTargetDown", severity: severityWarning,
			fires: scenario{
				series: []inputSeries{in("up", appPod(podA), flat(1)), in("up", appPod(podB), flat(0))},
				checks: []check{{at: "4m"}, {at: "10m", want: []expAlert{targetDownWarning(podB)}}},
			},
			silent: scenario{
				// Down for four minutes, less than the rule's five, then back.
				series: []inputSeries{in("up", appPod(podA), flat(1)), in("up", appPod(podB), between(10, 14, 0, 1))},
				checks: []check{{at: "14m"}, {at: "20m"}},
			},
		},
		{
			alert: "NexiosTargetDown", severity: severityCritical,
			fires: scenario{
				series: []inputSeries{in("up", appPod(podA), flat(0)), in("up", appPod(podB), flat(0))},
				checks: []check{
					{at: "1m"},
					{at: "3m", want: []expAlert{targetDownCritical()}},
					{at: "10m", want: []expAlert{targetDownCritical(), targetDownWarning(podA), targetDownWarning(podB)}},
				},
			},
			silent: scenario{
				// One pod of two down: the warning only.
				series: []inputSeries{in("up", appPod(podA), flat(1)), in("up", appPod(podB), flat(0))},
				checks: []check{{at: "10m", want: []expAlert{targetDownWarning(podB)}}, {at: "30m", want: []expAlert{targetDownWarning(podB)}}},
			},
		},
		{
			alert: "NexiosHighErrorRate", severity: severityWarning,
			fires: scenario{
				// 3 of 50 requests a minute fail with a 5xx: 6%; the 404s are not errors of the app.
				series: requests(appPod(podA), map[string]float64{"200": 44, "404": 3, "500": 2, "503": 1}),
				checks: []check{{at: "4m"}, {at: "10m", want: []expAlert{errorRateWarning("6.0")}}},
			},
			silent: scenario{
				// 4% 5xx (and 6% 404s), while another namespace and another job fail half their requests.
				series: slices.Concat(
					requests(appPod(podA), map[string]float64{"200": 45, "404": 3, "500": 2}),
					requests(otherNamespace, map[string]float64{"200": 10, "500": 10}),
					requests(otherJob, map[string]float64{"200": 10, "502": 10}),
				),
				checks: []check{{at: "10m"}, {at: "30m"}},
			},
		},
		{
			alert: "NexiosHighErrorRate", severity: severityCritical,
			fires: scenario{
				series: slices.Concat(requests(appPod(podA), map[string]float64{"200": 22, "500": 3}), requests(appPod(podB), map[string]float64{"200": 22, "500": 3})),
				checks: []check{{at: "4m"}, {at: "10m", want: []expAlert{errorRateCritical("12.0"), errorRateWarning("12.0")}}},
			},
			silent: scenario{
				series: requests(appPod(podA), map[string]float64{"200": 91, "500": 9}),
				checks: []check{{at: "10m", want: []expAlert{errorRateWarning("9.0")}}, {at: "30m", want: []expAlert{errorRateWarning("9.0")}}},
			},
		},
		{
			alert: "NexiosHighLatency", severity: severityWarning,
			fires: scenario{
				// 100 requests a minute: 90 within 0.5s, the rest within 1s; p95 = 0.5 + 0.5 × 5/10.
				series: latency(appPod(podA), map[string]float64{"0.1": 50, "0.25": 80, "0.5": 90, "1": 100, "2.5": 100, "+Inf": 100}),
				checks: []check{{at: "9m"}, {at: "15m", want: []expAlert{latencyWarning("0.750")}}},
			},
			silent: scenario{
				// p95 = 0.25 + 0.25 × 15/16 = 0.484; another job is slow.
				series: slices.Concat(
					latency(appPod(podA), map[string]float64{"0.1": 50, "0.25": 80, "0.5": 96, "1": 100, "2.5": 100, "+Inf": 100}),
					latency(otherJob, map[string]float64{"0.1": 0, "0.25": 0, "0.5": 0, "1": 0, "2.5": 100, "+Inf": 100}),
				),
				checks: []check{{at: "15m"}, {at: "30m"}},
			},
		},
		{
			alert: "NexiosHighLatency", severity: severityCritical,
			fires: scenario{
				// p95 = 1 + 1.5 × 1/6 = 1.25.
				series: latency(appPod(podA), map[string]float64{"0.5": 50, "0.75": 80, "1": 94, "2.5": 100, "+Inf": 100}),
				checks: []check{{at: "9m"}, {at: "15m", want: []expAlert{latencyCritical("1.250"), latencyWarning("1.250")}}},
			},
			silent: scenario{
				// p95 = 0.75 + 0.25 × 5/6 = 0.958: the warning only.
				series: latency(appPod(podA), map[string]float64{"0.5": 50, "0.75": 90, "1": 96, "2.5": 100, "+Inf": 100}),
				checks: []check{{at: "15m", want: []expAlert{latencyWarning("0.958")}}, {at: "30m", want: []expAlert{latencyWarning("0.958")}}},
			},
		},
		{
			alert: "HPAAtMaxReplicas", severity: severityWarning,
			fires: scenario{
				// At its maximum of 3, but the pods stay below their target: no critical.
				series: slices.Concat(hpa(flat(3), 50), load(40)),
				checks: []check{{at: "14m"}, {at: "20m", want: []expAlert{hpaAtMaxWarning()}}},
			},
			silent: scenario{
				// At its maximum for ten minutes, then back to 2; another namespace's HPA at its maximum.
				series: slices.Concat(hpa(between(10, 20, 3, 2), 50), []inputSeries{
					in("kube_horizontalpodautoscaler_status_current_replicas", ksm("namespace", "nexios-staging", "horizontalpodautoscaler", hpaName), flat(3)),
					in("kube_horizontalpodautoscaler_spec_max_replicas", ksm("namespace", "nexios-staging", "horizontalpodautoscaler", hpaName), flat(3)),
				}),
				checks: []check{{at: "19m"}, {at: "30m"}},
			},
		},
		{
			alert: "HPAAtMaxReplicas", severity: severityCritical,
			fires: scenario{
				// At its maximum and 60 requests a second per pod against a target of 50.
				series: slices.Concat(hpa(flat(3), 50), load(60)),
				checks: []check{{at: "14m"}, {at: "20m", want: []expAlert{hpaAtMaxCritical(), hpaAtMaxWarning()}}},
				exprs: []promQLTest{{
					Expr: scalingMetric, EvalTime: "20m",
					ExpSamples: []expSample{
						{Labels: fmt.Sprintf(`%s{namespace=%q, pod=%q}`, scalingMetric, devNamespace, podA), Value: 60},
						{Labels: fmt.Sprintf(`%s{namespace=%q, pod=%q}`, scalingMetric, devNamespace, podB), Value: 60},
						{Labels: fmt.Sprintf(`%s{namespace=%q, pod=%q}`, scalingMetric, devNamespace, podC), Value: 60},
					},
				}},
			},
			silent: scenario{
				// At its maximum with the pods at 40 a second: the warning only.
				series: slices.Concat(hpa(flat(3), 50), load(40)),
				checks: []check{{at: "20m", want: []expAlert{hpaAtMaxWarning()}}, {at: "40m", want: []expAlert{hpaAtMaxWarning()}}},
				exprs: []promQLTest{{
					Expr: "avg by (namespace) (" + scalingMetric + ")", EvalTime: "20m",
					ExpSamples: []expSample{{Labels: fmt.Sprintf(`{namespace=%q}`, devNamespace), Value: 40}},
				}},
			},
		},
		{
			alert: "MonitoringTargetDown", severity: severityWarning,
			fires: scenario{
				series: []inputSeries{in("up", ksmUp, flat(0)), in("up", prometheusSelf, flat(1))},
				checks: []check{{at: "9m"}, {at: "15m", want: []expAlert{monitoringTargetDown(ksmUp)}}},
			},
			silent: scenario{
				// The app's own pods are NexiosTargetDown's; a kubelet misses five minutes of scrapes.
				series: []inputSeries{
					in("up", appPod(podA), flat(0)),
					in("up", ksmUp, flat(1)),
					in("up", labels(nil, "job", "kubelet", "instance", "10.253.0.2:10250", "node", "nexios-real-0"), between(10, 15, 0, 1)),
				},
				checks: []check{{at: "14m"}, {at: "30m"}},
			},
		},
		{
			alert: "PodRestartLoop", severity: severityWarning,
			fires: scenario{
				// Four restarts within the hour, after three long before; Grafana restarting twelve times an hour.
				series: []inputSeries{
					restarts(devNamespace, podA, "nexios", counterSteps(2, 3, 4, 70, 73, 76, 79)),
					restarts(monNamespace, "nexios-monitoring-grafana-6b8f9-abcde", "grafana", perMinute(0.2)),
				},
				checks: []check{
					{at: "82m", want: []expAlert{restartLoop(monNamespace, "nexios-monitoring-grafana-6b8f9-abcde", "grafana", "12")}},
					{at: "90m", want: []expAlert{
						restartLoop(devNamespace, podA, "nexios", "4"),
						restartLoop(monNamespace, "nexios-monitoring-grafana-6b8f9-abcde", "grafana", "12"),
					}},
				},
			},
			silent: scenario{
				// Three restarts within the hour, the threshold, after three long before (increase()
				// extrapolates them to 3.03); a system pod restarting constantly is not the stack's.
				series: []inputSeries{
					restarts(devNamespace, podA, "nexios", counterSteps(2, 3, 4, 70, 75, 80)),
					restarts("kube-system", "coredns-5d78c-abcde", "coredns", perMinute(1)),
				},
				checks: []check{{at: "55m"}, {at: "90m"}, {at: "99m"}},
			},
		},
		{
			alert: "DeploymentReplicasUnavailable", severity: severityWarning,
			fires: scenario{
				// One of two replicas unavailable.
				series: deployment(devNamespace, "nexios-deployment-abc123", flat(2), flat(1), flat(1)),
				checks: []check{{at: "9m"}, {at: "15m", want: []expAlert{deploymentWarning(devNamespace, "nexios-deployment-abc123", "1")}}},
			},
			silent: scenario{
				// A five-minute rollout; a system Deployment missing a replica is not the stack's.
				series: slices.Concat(
					deployment(devNamespace, "nexios-deployment-abc123", flat(2), between(10, 15, 1, 2), between(10, 15, 1, 0)),
					deployment("kube-system", "coredns", flat(2), flat(1), flat(1)),
				),
				checks: []check{{at: "14m"}, {at: "30m"}},
			},
		},
		{
			alert: "DeploymentReplicasUnavailable", severity: severityCritical,
			fires: scenario{
				series: deployment(monNamespace, "nexios-monitoring-grafana", flat(1), flat(0), flat(1)),
				checks: []check{
					{at: "4m"},
					{at: "7m", want: []expAlert{deploymentCritical(monNamespace, "nexios-monitoring-grafana")}},
					{at: "15m", want: []expAlert{deploymentCritical(monNamespace, "nexios-monitoring-grafana"), deploymentWarning(monNamespace, "nexios-monitoring-grafana", "1")}},
				},
			},
			silent: scenario{
				// Scaled to zero on purpose.
				series: deployment(devNamespace, "nexios-deployment-abc123", flat(0), flat(0), flat(0)),
				checks: []check{{at: "15m"}, {at: "30m"}},
			},
		},
		{
			alert: "StatefulSetReplicasUnavailable", severity: severityWarning,
			fires: scenario{
				series: statefulSet(monNamespace, "nexios-monitoring-prometheus", flat(1), flat(0)),
				checks: []check{{at: "9m"}, {at: "15m", want: []expAlert{statefulSetWarning(monNamespace, "nexios-monitoring-prometheus")}}},
			},
			silent: scenario{
				series: slices.Concat(
					statefulSet(monNamespace, "nexios-monitoring-prometheus", flat(1), between(0, 5, 0, 1)),
					statefulSet("kube-system", "etcd", flat(3), flat(1)),
				),
				checks: []check{{at: "15m"}, {at: "30m"}},
			},
		},
		{
			alert: "PVCNearlyFull", severity: severityWarning,
			fires: scenario{
				series: []inputSeries{
					in("kubelet_volume_stats_used_bytes", prometheusPVC, flat(45e9)),
					in("kubelet_volume_stats_capacity_bytes", prometheusPVC, flat(50e9)),
				},
				checks: []check{{at: "9m"}, {at: "15m", want: []expAlert{pvcWarning(prometheusPVC, "90")}}},
			},
			silent: scenario{
				// 80% full; a volume outside the app's and the stack's namespaces is full.
				series: []inputSeries{
					in("kubelet_volume_stats_used_bytes", prometheusPVC, flat(40e9)),
					in("kubelet_volume_stats_capacity_bytes", prometheusPVC, flat(50e9)),
					in("kubelet_volume_stats_used_bytes", loggingPVC, flat(99e9)),
					in("kubelet_volume_stats_capacity_bytes", loggingPVC, flat(100e9)),
				},
				checks: []check{{at: "15m"}, {at: "30m"}},
			},
		},
		{
			alert: "PrometheusRuleFailures", severity: severityWarning,
			fires: scenario{
				// One failure every eight minutes, from minute 8: firing from minute 18.
				series: []inputSeries{in("prometheus_rule_evaluation_failures_total", ruleGroup(promRulesGroup), everyMinutes(8))},
				checks: []check{{at: "17m"}, {at: "20m", want: []expAlert{ruleFailures(promRulesGroup)}}},
			},
			silent: scenario{
				// No failure, and one group's single failure long ago.
				series: []inputSeries{
					in("prometheus_rule_evaluation_failures_total", ruleGroup(promRulesGroup), flat(0)),
					in("prometheus_rule_evaluation_failures_total", ruleGroup(prometheusRulesDir+"/"+rulesFileName+";nexios-workloads"), counterSteps(5)),
				},
				checks: []check{{at: "30m"}, {at: "60m"}},
			},
		},
		{
			alert: "AlertmanagerNotificationsFailing", severity: severityCritical,
			fires: scenario{
				series: []inputSeries{
					// One failed notification every eight minutes, from minute 8: firing from minute 18.
					in("alertmanager_notifications_failed_total", integration("webhook"), everyMinutes(8)),
					in("alertmanager_notifications_failed_total", integration("slack"), flat(0)),
				},
				checks: []check{{at: "17m"}, {at: "20m", want: []expAlert{notificationsFailing("webhook")}}},
			},
			silent: scenario{
				series: []inputSeries{
					in("alertmanager_notifications_failed_total", integration("webhook"), flat(0)),
					in("alertmanager_notifications_failed_total", integration("slack"), flat(0)),
				},
				checks: []check{{at: "20m"}, {at: "60m"}},
			},
		},
	}
}

// devRuleSettings are the rule settings of the dev profile, with the scaling metric the committed prod
// stack declares (dev declares none) so that its recording rule and alert are tested too.
func devRuleSettings(t *testing.T) RuleSettings {
	t.Helper()
	dev, err := stacks.Defaults(stacks.Dev, "dev")
	if err != nil {
		t.Fatal(err)
	}
	s := RuleSettings{
		AppJob:              dev.App.Name,
		AppNamespace:        dev.Target.Namespace,
		MonitoringNamespace: dev.Monitoring.Namespace,
		Thresholds:          Thresholds(dev.Monitoring.Alerts),
		ScalingMetrics:      scalingTargets(t),
	}
	// The cases' inputs and expected annotations are written for these values.
	written := RuleSettings{
		AppJob: appJob, AppNamespace: devNamespace, MonitoringNamespace: monNamespace,
		Thresholds:     Thresholds{ErrorRatePercent: 5, LatencyP95Seconds: 0.5, RestartsPerHour: 3, PVCUsagePercent: 85, HPAAtMaxForMinutes: 15, ErrorRateForMinutes: 5, LatencyForMinutes: 10},
		ScalingMetrics: s.ScalingMetrics,
	}
	if s.ScalingMetrics[0].Metric.Name != scalingMetric || s.ScalingMetrics[0].Target != scalingTarget || !reflect.DeepEqual(s, written) {
		t.Fatalf("the dev profile is now job %q, namespaces %q and %q, thresholds %+v; the cases are written for %q, %q, %q, %+v: update them",
			s.AppJob, s.AppNamespace, s.MonitoringNamespace, s.Thresholds, written.AppJob, written.AppNamespace, written.MonitoringNamespace, written.Thresholds)
	}
	return s
}

// Every alert the component ships fires, with its labels and annotations, on input that should make it
// fire, only once its `for` has passed, and stays silent on input that should not: promtool test rules
// on the rule file the component renders at the dev profile's thresholds.
func TestAlertRules(t *testing.T) {
	promtool := upstreamTool(t, "promtool")
	if d, err := time.ParseDuration(scrapeInterval); err != nil || d*samplesPerMin != time.Minute {
		t.Fatalf("the scrape interval is now %s: set samplesPerMin to match", scrapeInterval)
	}
	settings := devRuleSettings(t)
	rules, err := RulesFile(settings)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := RuleGroups(settings)
	if err != nil {
		t.Fatal(err)
	}
	shipped := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				shipped[r.Alert+"/"+r.Labels["severity"]] = true
			}
		}
	}
	cases := alertCases()
	tested := map[string]bool{}
	for _, c := range cases {
		tested[c.alert+"/"+c.severity] = true
	}
	for _, rule := range slices.Sorted(maps.Keys(shipped)) {
		if !tested[rule] {
			t.Errorf("alert %s has no test case", rule)
		}
	}

	for _, c := range cases {
		t.Run(c.alert+"/"+c.severity, func(t *testing.T) {
			t.Parallel()
			if !shipped[c.alert+"/"+c.severity] {
				t.Fatalf("the rule file has no alert %s of severity %s", c.alert, c.severity)
			}
			c.checkScenarios(t)
			dir := t.TempDir()
			write(t, filepath.Join(dir, rulesFileName), rules)
			test := ruleTestFile{
				RuleFiles:          []string{rulesFileName},
				EvaluationInterval: evaluationInterval,
				Tests:              []ruleTestGroup{c.group("fires", c.fires), c.group("silent", c.silent)},
				FuzzyCompare:       true,
			}
			raw, err := yaml.Marshal(test)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "test.yaml")
			write(t, path, string(raw))
			out, err := exec.Command(promtool, "test", "rules", path).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool test rules: %v\n%s\ntest file:\n%s", err, out, raw)
			}
		})
	}
}

// checkScenarios keeps the table honest: the rule fires at the end of its firing scenario and never in
// its silent one.
func (c alertCase) checkScenarios(t *testing.T) {
	t.Helper()
	has := func(ch check) bool {
		return slices.ContainsFunc(ch.want, func(a expAlert) bool { return a.Labels["severity"] == c.severity })
	}
	if n := len(c.fires.checks); n == 0 || !has(c.fires.checks[n-1]) {
		t.Fatalf("the firing scenario's last check does not expect the %s alert", c.severity)
	}
	if len(c.silent.checks) == 0 || slices.ContainsFunc(c.silent.checks, has) {
		t.Fatalf("the silent scenario has no check, or expects the %s alert", c.severity)
	}
}

func (c alertCase) group(name string, s scenario) ruleTestGroup {
	g := ruleTestGroup{Name: c.alert + "/" + c.severity + " " + name, Interval: scrapeInterval, InputSeries: s.series, PromQLTests: s.exprs}
	for _, ch := range s.checks {
		// Every alert links to its runbook entry, named after the alert (runbook_test.go checks the entries).
		var want []expAlert
		for _, a := range ch.want {
			annotations := maps.Clone(a.Annotations)
			annotations["runbook_url"] = "docs/runbook.md#" + strings.ToLower(c.alert)
			want = append(want, expAlert{Labels: a.Labels, Annotations: annotations})
		}
		g.AlertRuleTests = append(g.AlertRuleTests, alertRuleTest{EvalTime: ch.at, Alertname: c.alert, ExpAlerts: want})
	}
	return g
}
