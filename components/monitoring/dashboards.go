package monitoring

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/nexios-labs/nexios-k8s/components/appmetrics"
)

// The provisioned datasources' ids, fixed so dashboards can reference them.
const (
	prometheusDatasourceUID    = "prometheus"
	elasticsearchDatasourceUID = "elasticsearch"
)

// DashboardSettings are the plain values the dashboards are generated from.
type DashboardSettings struct {
	AppJob       string
	AppNamespace string
	// Deployment is the app's Deployment: its pods are named after it.
	Deployment          string
	Autoscaled          bool
	ScalingMetrics      []ScalingTarget
	MonitoringNamespace string
}

// query is one PromQL target of a panel.
type query struct {
	expr, legend string
}

// panel is a time series panel over queries; half the dashboard's width.
func panel(title, unit string, queries ...query) cog.Builder[dashboard.Panel] {
	p := timeseries.NewPanelBuilder().
		Title(title).
		Unit(unit).
		Min(0).
		Height(8).
		Span(12).
		Datasource(prometheusRef())
	for _, q := range queries {
		p.WithTarget(prometheus.NewDataqueryBuilder().Expr(q.expr).LegendFormat(q.legend))
	}
	return p
}

func prometheusRef() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr(prometheusDatasourceUID)}
}

// AppDashboard renders the app's dashboard: traffic, errors, latency percentiles, replicas against
// the HPA's range, CPU and memory against requests and limits, and a panel per scaling metric with
// the target the HPA reads.
func AppDashboard(s DashboardSettings) (string, error) {
	if s.AppJob == "" || s.AppNamespace == "" || s.Deployment == "" {
		return "", fmt.Errorf("app dashboard: job, namespace and deployment are required, got %+v", s)
	}
	app := fmt.Sprintf(`job=%q, namespace=%q`, s.AppJob, s.AppNamespace)
	ns := fmt.Sprintf(`namespace=%q`, s.AppNamespace)
	// The Deployment's pods are <deployment>-<replicaset hash>-<pod hash>.
	pods := fmt.Sprintf(`%s, pod=~%q, container!="", container!="POD"`, ns, s.Deployment+"-[a-z0-9]+-[a-z0-9]+")
	quantile := func(q string) query {
		return query{
			expr:   fmt.Sprintf(`histogram_quantile(%s, sum by (le) (rate(%s_bucket{%s}[$__rate_interval])))`, q, appmetrics.RequestDuration, app),
			legend: "p" + q[2:],
		}
	}
	resource := func(name string) []query {
		return []query{
			{fmt.Sprintf(`kube_pod_container_resource_requests{%s, resource=%q}`, pods, name), "request {{pod}}"},
			{fmt.Sprintf(`kube_pod_container_resource_limits{%s, resource=%q}`, pods, name), "limit {{pod}}"},
		}
	}
	replicas := []query{
		{fmt.Sprintf(`kube_deployment_status_replicas_available{%s, deployment=%q}`, ns, s.Deployment), "available"},
		{fmt.Sprintf(`kube_deployment_spec_replicas{%s, deployment=%q}`, ns, s.Deployment), "desired"},
	}
	if s.Autoscaled {
		replicas = append(replicas,
			query{fmt.Sprintf(`kube_horizontalpodautoscaler_spec_min_replicas{%s}`, ns), "HPA min"},
			query{fmt.Sprintf(`kube_horizontalpodautoscaler_spec_max_replicas{%s}`, ns), "HPA max"},
			query{fmt.Sprintf(`kube_horizontalpodautoscaler_status_desired_replicas{%s}`, ns), "HPA desired"},
		)
	}

	b := dashboard.NewDashboardBuilder("Nexios: "+s.AppNamespace).
		Uid(dashboardUID("nexios", s.AppNamespace)).
		Tags([]string{"nexios", "generated"}).
		Refresh("30s").
		Time("now-3h", "now").
		Readonly().
		WithRow(dashboard.NewRowBuilder("Traffic")).
		WithPanel(panel("Request rate by status", "reqps",
			query{fmt.Sprintf(`sum by (%s) (rate(%s{%s}[$__rate_interval]))`, appmetrics.StatusLabel, appmetrics.RequestsTotal, app), "{{" + appmetrics.StatusLabel + "}}"})).
		WithPanel(panel("5xx ratio", "percentunit",
			query{fmt.Sprintf(`sum(rate(%[1]s{%[2]s, %[3]s=~"5.."}[$__rate_interval])) / sum(rate(%[1]s{%[2]s}[$__rate_interval]))`, appmetrics.RequestsTotal, app, appmetrics.StatusLabel), "5xx"})).
		WithPanel(panel("Latency percentiles", "s", quantile("0.50"), quantile("0.95"), quantile("0.99"))).
		WithPanel(panel("Replicas", "short", replicas...)).
		WithRow(dashboard.NewRowBuilder("Resources")).
		WithPanel(panel("CPU against requests and limits", "cores", append([]query{
			{fmt.Sprintf(`sum by (pod) (rate(container_cpu_usage_seconds_total{%s}[$__rate_interval]))`, pods), "used {{pod}}"},
		}, resource("cpu")...)...)).
		WithPanel(panel("Memory against requests and limits", "bytes", append([]query{
			{fmt.Sprintf(`sum by (pod) (container_memory_working_set_bytes{%s})`, pods), "used {{pod}}"},
		}, resource("memory")...)...))
	if len(s.ScalingMetrics) > 0 {
		b.WithRow(dashboard.NewRowBuilder("Autoscaling metrics"))
	}
	for _, m := range s.ScalingMetrics {
		b.WithPanel(scalingPanel(m, ns))
	}
	return render(b)
}

// scalingPanel shows a scaling metric per pod, from the series the adapter serves, against the
// target read back from the HPA.
func scalingPanel(m ScalingTarget, namespace string) cog.Builder[dashboard.Panel] {
	return panel(fmt.Sprintf("%s (%s) against the HPA target", m.Metric.Title, m.Metric.Name), m.Metric.Unit,
		query{fmt.Sprintf(`%s{%s}`, m.Metric.Name, namespace), "{{pod}}"},
		query{fmt.Sprintf(`max(kube_horizontalpodautoscaler_spec_target_metric{%s, metric_name=%q, metric_target_type="average"})`, namespace, m.Metric.Name), "target"},
	)
}

// StackDashboard renders the monitoring stack's own dashboard: targets up, ingestion, series,
// rule failures, notifications and the stack's CPU and memory.
func StackDashboard(s DashboardSettings) (string, error) {
	if s.MonitoringNamespace == "" {
		return "", fmt.Errorf("stack dashboard: the monitoring namespace is required")
	}
	ns := fmt.Sprintf(`namespace=%q, container!="", container!="POD"`, s.MonitoringNamespace)
	b := dashboard.NewDashboardBuilder("Monitoring stack: "+s.MonitoringNamespace).
		Uid(dashboardUID("monitoring", s.MonitoringNamespace)).
		Tags([]string{"monitoring", "generated"}).
		Refresh("1m").
		Time("now-6h", "now").
		Readonly().
		WithPanel(panel("Targets up by job", "short", query{`sum by (job) (up)`, "{{job}}"}, query{`count by (job) (up)`, "{{job}} total"})).
		WithPanel(panel("Samples ingested", "short", query{`rate(prometheus_tsdb_head_samples_appended_total[$__rate_interval])`, "samples/s"})).
		WithPanel(panel("Head series", "short", query{`prometheus_tsdb_head_series`, "series"})).
		WithPanel(panel("TSDB size", "bytes", query{`prometheus_tsdb_storage_blocks_bytes + prometheus_tsdb_wal_storage_size_bytes`, "blocks + WAL"})).
		WithPanel(panel("Rule evaluation failures", "short", query{`sum by (rule_group) (increase(prometheus_rule_evaluation_failures_total[$__rate_interval]))`, "{{rule_group}}"})).
		WithPanel(panel("Alerts and notifications", "short",
			query{`sum by (state) (alertmanager_alerts)`, "alerts {{state}}"},
			query{`sum by (integration) (increase(alertmanager_notifications_failed_total[$__rate_interval]))`, "failed {{integration}}"})).
		WithPanel(panel("CPU by pod", "cores", query{fmt.Sprintf(`sum by (pod) (rate(container_cpu_usage_seconds_total{%s}[$__rate_interval]))`, ns), "{{pod}}"})).
		WithPanel(panel("Memory by pod", "bytes", query{fmt.Sprintf(`sum by (pod) (container_memory_working_set_bytes{%s})`, ns), "{{pod}}"}))
	return render(b)
}

func render(b *dashboard.DashboardBuilder) (string, error) {
	d, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("building dashboard: %w", err)
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding dashboard: %w", err)
	}
	return string(out), nil
}

// dashboardUID is stable per namespace, so links to a dashboard survive redeployments; Grafana
// limits uids to 40 characters.
func dashboardUID(kind, namespace string) string {
	uid := kind + "-" + namespace
	if len(uid) > 40 {
		uid = uid[:40]
	}
	return uid
}
