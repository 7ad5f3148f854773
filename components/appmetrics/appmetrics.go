// Package appmetrics is the one place that knows the Prometheus metrics a Nexios app exposes and the
// per-pod scaling metrics derived from them. The HPA (components/app), the recording rules and the
// custom-metrics adapter rules, the alerts and the dashboards (components/monitoring) all read a scaling
// metric from here, so a metric declared once in app.autoscaling.customMetrics means the same series
// everywhere. A scaling metric is either built in (Lookup) or defined by the stack (Define); Resolve
// picks between them, and both kinds pass the same checks (query.go).
package appmetrics

import (
	"errors"
	"fmt"
	"maps"
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

// Placeholder stands, in a scaling metric's query, for the label matchers that select the app's
// series (`job="<app>", namespace="<namespace>"`); Expr fills it in. Built-in and stack-defined
// metrics use the same template, so both select the app's series the same way.
const Placeholder = "$app"

// DefaultUnit is the Grafana unit of a defined metric's panel when the stack names none: a plain number.
const DefaultUnit = "short"

// ScalingMetric is a per-pod metric an HPA can scale on. Prometheus records it under Name, one series per
// (namespace, pod); the adapter serves that series to the HPA under the same Name.
type ScalingMetric struct {
	// Name is the metric's name in the HPA, the recording rule and the custom metrics API.
	Name string
	// Title and Unit label the dashboard panel (Unit is a Grafana unit id).
	Title string
	Unit  string
	// Query is the recording expression, a PromQL template in which Placeholder stands for the label
	// matchers of the app's series.
	Query string
}

// Expr is the PromQL that records the metric per (namespace, pod) from the series matched by selector
// (PromQL label matchers without braces, e.g. `job="nexios", namespace="nexios-prod"`).
func (m ScalingMetric) Expr(selector string) string {
	return strings.ReplaceAll(m.Query, Placeholder, selector)
}

// Validate checks a scaling metric the way a stack's definition is checked, except that a built-in
// name is allowed: the name is a metric name, the query records one series per pod from the app's own
// series only, the panel has a title and a unit. Components call it on what they are handed, built in
// or defined, instead of trusting that the caller resolved it.
func (m ScalingMetric) Validate() error {
	var errs []error
	if err := checkMetricName(m.Name); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateQuery(m.Name, m.Query); err != nil {
		errs = append(errs, fmt.Errorf("query: %w", err))
	}
	if m.Title == "" {
		errs = append(errs, errors.New("title: is empty"))
	}
	if err := ValidateUnit(m.Unit); err != nil {
		errs = append(errs, fmt.Errorf("unit: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("scaling metric %q: %w", m.Name, err)
	}
	return nil
}

// builtins are the metrics customMetrics may name without a definition. The rate window is twice the
// scrape interval plus margin, so a single missed scrape does not make the metric vanish and the HPA stall.
var builtins = []ScalingMetric{
	{
		Name:  "http_requests_per_second",
		Title: "Requests per second per pod",
		Unit:  "reqps",
		Query: "sum by (namespace, pod) (rate(" + RequestsTotal + "{" + Placeholder + "}[2m]))",
	},
}

// Lookup returns the built-in scaling metric called name.
func Lookup(name string) (ScalingMetric, error) {
	for _, m := range builtins {
		if m.Name == name {
			return m, nil
		}
	}
	return ScalingMetric{}, fmt.Errorf("%q is not a scaling metric the monitoring stack records; known: %s", name, strings.Join(Names(), ", "))
}

// Names lists the built-in scaling metrics, sorted.
func Names() []string {
	names := make([]string, len(builtins))
	for i, m := range builtins {
		names[i] = m.Name
	}
	slices.Sort(names)
	return names
}

// Definition is a stack's own per-pod scaling metric (app.autoscaling.metricDefinitions.<name>).
type Definition struct {
	// Query is a PromQL template over the app's series; see ValidateQuery.
	Query string
	// Title labels the dashboard panel; empty means the metric's name.
	Title string
	// Unit is the panel's Grafana unit id; empty means DefaultUnit.
	Unit string
}

// Define turns a stack's definition into a scaling metric, filling the title and unit it leaves empty,
// and reports every problem with it.
func Define(name string, d Definition) (ScalingMetric, error) {
	if d.Title == "" {
		d.Title = name
	}
	if d.Unit == "" {
		d.Unit = DefaultUnit
	}
	var errs []error
	if err := ValidateName(name); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateQuery(name, d.Query); err != nil {
		errs = append(errs, fmt.Errorf("query: %w", err))
	}
	if err := ValidateUnit(d.Unit); err != nil {
		errs = append(errs, fmt.Errorf("unit: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return ScalingMetric{}, fmt.Errorf("scaling metric %q: %w", name, err)
	}
	return ScalingMetric{Name: name, Title: d.Title, Unit: d.Unit, Query: d.Query}, nil
}

// Resolve returns the scaling metric a customMetrics entry names: the stack's own definition if it has
// one, otherwise a built-in metric.
func Resolve(name string, definitions map[string]Definition) (ScalingMetric, error) {
	if d, ok := definitions[name]; ok {
		return Define(name, d)
	}
	if m, err := Lookup(name); err == nil {
		return m, nil
	}
	defined := "none"
	if len(definitions) > 0 {
		defined = strings.Join(slices.Sorted(maps.Keys(definitions)), ", ")
	}
	return ScalingMetric{}, fmt.Errorf("%q is neither a built-in scaling metric (known: %s) nor defined under app.autoscaling.metricDefinitions (defined: %s)",
		name, strings.Join(Names(), ", "), defined)
}
