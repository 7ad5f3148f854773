package monitoring

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/components/appmetrics"
)

// Severities. Alertmanager inhibits a warning while a critical alert of the same name fires in the
// same namespace, so several alerts come in pairs: a warning at the threshold, critical beyond it.
const (
	severityWarning  = "warning"
	severityCritical = "critical"
)

// RuleSettings are the plain values the rule file is generated from.
type RuleSettings struct {
	AppJob              string
	AppNamespace        string
	MonitoringNamespace string
	Thresholds          Thresholds
	ScalingMetrics      []ScalingTarget
}

// RuleGroup is a Prometheus rule group; the same value is a PrometheusRule's spec.groups entry.
type RuleGroup struct {
	Name  string `yaml:"name" json:"name"`
	Rules []Rule `yaml:"rules" json:"rules"`
}

// Rule is a recording rule (Record) or an alerting rule (Alert).
type Rule struct {
	Record      string            `yaml:"record,omitempty" json:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty" json:"alert,omitempty"`
	Expr        string            `yaml:"expr" json:"expr"`
	For         string            `yaml:"for,omitempty" json:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty" json:"annotations,omitempty"`
}

// RuleGroups are the recording rules for the scaling metrics, the app's alerts and the stack's alerts.
func RuleGroups(s RuleSettings) ([]RuleGroup, error) {
	if s.AppJob == "" || s.AppNamespace == "" || s.MonitoringNamespace == "" {
		return nil, fmt.Errorf("rules: app job, app namespace and monitoring namespace are required, got %+v", s)
	}
	t := s.Thresholds
	app := fmt.Sprintf(`job=%q, namespace=%q`, s.AppJob, s.AppNamespace)
	ns := fmt.Sprintf(`namespace=%q`, s.AppNamespace)
	// Workload alerts cover the app and the monitoring stack alike.
	both := fmt.Sprintf(`namespace=~%q`, s.AppNamespace+"|"+s.MonitoringNamespace)

	var recording []Rule
	for _, m := range s.ScalingMetrics {
		recording = append(recording, Rule{Record: m.Metric.Name, Expr: m.Metric.Expr(app)})
	}

	errorRatio := fmt.Sprintf(`100 * sum by (namespace) (rate(%[1]s{%[2]s, %[3]s=~"5.."}[5m]))
  / sum by (namespace) (rate(%[1]s{%[2]s}[5m]))`, appmetrics.RequestsTotal, app, appmetrics.StatusLabel)
	errorFor, latencyFor := fmt.Sprintf("%dm", t.ErrorRateForMinutes), fmt.Sprintf("%dm", t.LatencyForMinutes)
	p95 := fmt.Sprintf(`histogram_quantile(0.95, sum by (namespace, le) (rate(%s_bucket{%s}[5m])))`, appmetrics.RequestDuration, app)
	appAlerts := []Rule{
		alert("NexiosTargetDown", fmt.Sprintf(`up{%s} == 0`, app), "5m", severityWarning,
			"A Nexios pod does not answer scrapes",
			"{{ $labels.pod }} in {{ $labels.namespace }} has not answered Prometheus for 5 minutes.",
			"Check the pod's events and logs (kubectl -n {{ $labels.namespace }} describe pod {{ $labels.pod }}); a failing readiness probe or a crash loop usually explains it."),
		alert("NexiosTargetDown", fmt.Sprintf(`sum by (namespace) (up{%s}) == 0`, app), "2m", severityCritical,
			"No Nexios pod answers scrapes",
			"Every Nexios pod in {{ $labels.namespace }} is down: the app is unavailable.",
			"Look at the Deployment's rollout and the pods' events; roll back with `kubectl rollout undo` if a release caused it."),
		alert("NexiosHighErrorRate", fmt.Sprintf(`%s > %g`, errorRatio, t.ErrorRatePercent), errorFor, severityWarning,
			"Nexios answers too many 5xx",
			fmt.Sprintf("{{ $value | printf \"%%.1f\" }}%% of requests in {{ $labels.namespace }} fail with 5xx (threshold %g%%).", t.ErrorRatePercent),
			"Open the Nexios dashboard's error panel and the app's logs for the failing routes; check the database and recent deployments."),
		alert("NexiosHighErrorRate", fmt.Sprintf(`%s > %g`, errorRatio, min(2*t.ErrorRatePercent, 100)), errorFor, severityCritical,
			"Nexios fails a large share of requests",
			fmt.Sprintf("{{ $value | printf \"%%.1f\" }}%% of requests in {{ $labels.namespace }} fail with 5xx (twice the %g%% threshold).", t.ErrorRatePercent),
			"Roll back the last release if it coincides; otherwise check the database and the app's dependencies."),
		alert("NexiosHighLatency", fmt.Sprintf(`%s > %g`, p95, t.LatencyP95Seconds), latencyFor, severityWarning,
			"Nexios p95 latency is high",
			fmt.Sprintf("p95 latency in {{ $labels.namespace }} is {{ $value | printf \"%%.3f\" }}s (threshold %gs).", t.LatencyP95Seconds),
			"Compare request rate, CPU against limits and replicas on the dashboard: saturation wants more replicas, a slow dependency wants its owner."),
		alert("NexiosHighLatency", fmt.Sprintf(`%s > %g`, p95, 2*t.LatencyP95Seconds), latencyFor, severityCritical,
			"Nexios p95 latency is very high",
			fmt.Sprintf("p95 latency in {{ $labels.namespace }} is {{ $value | printf \"%%.3f\" }}s (twice the %gs threshold).", t.LatencyP95Seconds),
			"Scale out by hand if the HPA is at its maximum; check slow queries and dependencies."),
		alert("HPAAtMaxReplicas", fmt.Sprintf(`kube_horizontalpodautoscaler_status_current_replicas{%s}
  >= kube_horizontalpodautoscaler_spec_max_replicas{%s}`, ns, ns), fmt.Sprintf("%dm", t.HPAAtMaxForMinutes), severityWarning,
			"The HPA is pinned at its maximum",
			fmt.Sprintf("{{ $labels.horizontalpodautoscaler }} in {{ $labels.namespace }} has run at maxReplicas for %d minutes: it cannot add capacity.", t.HPAAtMaxForMinutes),
			"Raise app.autoscaling.maxReplicas (and the quota) if the load is real, or find what makes each pod slow."),
	}
	for _, m := range s.ScalingMetrics {
		// The target is read from the HPA itself (through kube-state-metrics), so the alert can never
		// disagree with what the HPA aims for.
		appAlerts = append(appAlerts, Rule{
			Alert: "HPAAtMaxReplicas",
			Expr: fmt.Sprintf(`(
  kube_horizontalpodautoscaler_status_current_replicas{%[1]s}
  >= kube_horizontalpodautoscaler_spec_max_replicas{%[1]s}
)
and on (namespace)
(
  avg by (namespace) (%[2]s{%[1]s})
  > on (namespace)
  max by (namespace) (kube_horizontalpodautoscaler_spec_target_metric{%[1]s, metric_name=%[3]q, metric_target_type="average"})
)`, ns, m.Metric.Name, m.Metric.Name),
			For:    fmt.Sprintf("%dm", t.HPAAtMaxForMinutes),
			Labels: map[string]string{"severity": severityCritical, "metric": m.Metric.Name},
			Annotations: map[string]string{
				"summary":     fmt.Sprintf("The HPA is at its maximum and %s is above its target", m.Metric.Name),
				"description": fmt.Sprintf("{{ $labels.horizontalpodautoscaler }} in {{ $labels.namespace }} is at maxReplicas and the pods average more than the target of %s %s: users feel the load.", m.Target, m.Metric.Name),
				"runbook_url": runbookURL("HPAAtMaxReplicas"),
				"runbook":     "Raise app.autoscaling.maxReplicas now (pulumi config set --path app.autoscaling.maxReplicas N), check node capacity and the quota, then find the source of the load.",
			},
		})
	}

	stackAlerts := []Rule{
		alert("MonitoringTargetDown", fmt.Sprintf(`up{job!=%q} == 0`, s.AppJob), "10m", severityWarning,
			"A monitoring target does not answer scrapes",
			"Job {{ $labels.job }} target {{ $labels.instance }} has been down for 10 minutes; its alerts and panels are blind.",
			"Check the target's pod (or the API server and kubelets for those jobs) and the monitoring namespace's NetworkPolicies."),
		// increase() extrapolates to the hour's edges, so a counter that already had restarts reads three
		// restarts as 3.03 and would pass a threshold of 3: restarts are whole, so the count is rounded.
		alert("PodRestartLoop", fmt.Sprintf(`round(increase(kube_pod_container_status_restarts_total{%s}[1h])) > %d`, both, t.RestartsPerHour), "5m", severityWarning,
			"A container restarts repeatedly",
			fmt.Sprintf("{{ $labels.container }} in {{ $labels.namespace }}/{{ $labels.pod }} restarted {{ $value | printf \"%%.0f\" }} times in the last hour (threshold %d).", t.RestartsPerHour),
			"Read the previous container's logs (kubectl logs --previous) and the pod's events: OOMKilled wants a higher memory limit, a failing probe wants its timings or the app fixed."),
		alert("DeploymentReplicasUnavailable", fmt.Sprintf(`kube_deployment_status_replicas_unavailable{%s} > 0`, both), "10m", severityWarning,
			"A Deployment is missing replicas",
			"{{ $labels.deployment }} in {{ $labels.namespace }} has had {{ $value }} unavailable replicas for 10 minutes.",
			"Describe the Deployment's pods: Pending means no room or an unbound volume, CrashLoopBackOff means the container fails."),
		alert("DeploymentReplicasUnavailable", fmt.Sprintf(`kube_deployment_status_replicas_available{%[1]s} == 0
  and kube_deployment_spec_replicas{%[1]s} > 0`, both), "5m", severityCritical,
			"A Deployment has no available replica",
			"{{ $labels.deployment }} in {{ $labels.namespace }} has no available replica: it serves nothing.",
			"Same as the warning, urgently; roll back the last change to the Deployment if it coincides."),
		alert("StatefulSetReplicasUnavailable", fmt.Sprintf(`kube_statefulset_status_replicas_ready{%[1]s} < kube_statefulset_replicas{%[1]s}`, both), "10m", severityWarning,
			"A StatefulSet is missing replicas",
			"{{ $labels.statefulset }} in {{ $labels.namespace }} has fewer ready replicas than desired.",
			"Describe its pods; a Pending pod with a PersistentVolumeClaim usually waits for storage."),
		alert("PVCNearlyFull", fmt.Sprintf(`100 * kubelet_volume_stats_used_bytes{%[1]s} / kubelet_volume_stats_capacity_bytes{%[1]s} > %d`, both, t.PVCUsagePercent), "10m", severityWarning,
			"A PersistentVolumeClaim is nearly full",
			fmt.Sprintf("{{ $labels.persistentvolumeclaim }} in {{ $labels.namespace }} is {{ $value | printf \"%%.0f\" }}%% full (threshold %d%%).", t.PVCUsagePercent),
			"Expand the claim (if its StorageClass allows) or lower retention; for Prometheus, retentionSize bounds the TSDB below the volume's size."),
		alert("PrometheusRuleFailures", `increase(prometheus_rule_evaluation_failures_total[10m]) > 0`, "10m", severityWarning,
			"Prometheus fails to evaluate rules",
			"Rule group {{ $labels.rule_group }} fails to evaluate: some alerts cannot fire.",
			"Read Prometheus' log for the failing expression; usually a series changed its labels."),
		alert("AlertmanagerNotificationsFailing", `increase(alertmanager_notifications_failed_total[10m]) > 0`, "10m", severityCritical,
			"Alertmanager cannot deliver notifications",
			"Integration {{ $labels.integration }} fails to deliver: nobody hears about alerts.",
			"Check the webhook and Slack URLs in the stack config and Alertmanager's log."),
	}

	groups := []RuleGroup{}
	if len(recording) > 0 {
		groups = append(groups, RuleGroup{Name: "nexios-scaling-metrics", Rules: recording})
	}
	return append(groups,
		RuleGroup{Name: "nexios-app", Rules: appAlerts},
		RuleGroup{Name: "nexios-workloads", Rules: stackAlerts},
	), nil
}

// RulesFile renders the rule groups as a Prometheus rule file.
func RulesFile(s RuleSettings) (string, error) {
	groups, err := RuleGroups(s)
	if err != nil {
		return "", err
	}
	out, err := yaml.Marshal(map[string][]RuleGroup{"groups": groups})
	if err != nil {
		return "", fmt.Errorf("rules: %w", err)
	}
	return string(out), nil
}

func alert(name, expr, forDuration, severity, summary, description, runbook string) Rule {
	return Rule{
		Alert:  name,
		Expr:   expr,
		For:    forDuration,
		Labels: map[string]string{"severity": severity},
		Annotations: map[string]string{
			"summary":     summary,
			"description": description,
			"runbook":     runbook,
			"runbook_url": runbookURL(name),
		},
	}
}

// RunbookPath is the runbook's path in this repository: one entry per alert, under a heading that is the
// alert's name (runbook_test.go keeps the two lists equal).
const RunbookPath = "docs/runbook.md"

// runbookURL is the link to an alert's runbook entry, the Prometheus convention's runbook_url annotation:
// the repository path and the heading's anchor (a Markdown renderer lower-cases a heading for its anchor).
// The short `runbook` annotation stays, so a notification carries the first step without a click.
func runbookURL(alert string) string {
	return RunbookPath + "#" + strings.ToLower(alert)
}
