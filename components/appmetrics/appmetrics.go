// Package appmetrics is the one place that knows the Prometheus metrics a Nexios app exposes and the
// per-pod scaling metrics derived from them. The HPA (components/app), the recording rules and the
// custom-metrics adapter rules, the alerts and the dashboards (components/monitoring) all read a scaling
// metric from here, so a metric declared once in app.autoscaling.customMetrics means the same series
// everywhere.
package appmetrics

import (
	"fmt"
	"slices"
	"strings"
)

// The app's own series, as its Prometheus middleware names them.
const (
	// RequestsTotal counts handled requests, labelled method, path and status.
	RequestsTotal = "http_requests_total"
	// RequestDuration is a histogram of request durations in seconds (RequestDuration + "_bucket" etc.).
	RequestDuration = "http_request_duration_seconds"
	// StatusLabel holds the HTTP status code on RequestsTotal.
	StatusLabel = "status"
)

// ScalingMetric is a per-pod metric an HPA can scale on. Prometheus records it under Name, one series per
// (namespace, pod); the adapter serves that series to the HPA under the same Name.
type ScalingMetric struct {
	// Name is the metric's name in the HPA, the recording rule and the custom metrics API.
	Name string
	// Title and Unit label the dashboard panel (Unit is a Grafana unit id).
	Title string
	Unit  string
	// expr is the recording expression; %s receives the label matchers that select the app's series.
	expr string
}

// Expr is the PromQL that records the metric per (namespace, pod) from the series matched by selector
// (PromQL label matchers without braces, e.g. `job="nexios"`).
func (m ScalingMetric) Expr(selector string) string {
	return fmt.Sprintf(m.expr, selector)
}

// scalingMetrics are the metrics customMetrics may name. The rate window is twice the scrape interval
// plus margin, so a single missed scrape does not make the metric vanish and the HPA stall.
var scalingMetrics = []ScalingMetric{
	{
		Name:  "http_requests_per_second",
		Title: "Requests per second per pod",
		Unit:  "reqps",
		expr:  "sum by (namespace, pod) (rate(" + RequestsTotal + "{%s}[2m]))",
	},
}

// Lookup returns the scaling metric called name.
func Lookup(name string) (ScalingMetric, error) {
	for _, m := range scalingMetrics {
		if m.Name == name {
			return m, nil
		}
	}
	return ScalingMetric{}, fmt.Errorf("%q is not a scaling metric the monitoring stack records; known: %s", name, strings.Join(Names(), ", "))
}

// Names lists the known scaling metrics, sorted.
func Names() []string {
	names := make([]string, len(scalingMetrics))
	for i, m := range scalingMetrics {
		names[i] = m.Name
	}
	slices.Sort(names)
	return names
}
