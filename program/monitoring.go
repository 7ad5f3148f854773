package program

import (
	"fmt"
	"maps"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/app"
	"github.com/nexios-labs/nexios-k8s/components/appmetrics"
	"github.com/nexios-labs/nexios-k8s/components/logging"
	"github.com/nexios-labs/nexios-k8s/components/monitoring"
	"github.com/nexios-labs/nexios-k8s/components/secrets"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// The monitoring stack's exports; empty strings when monitoring is off (and the URLs in operator mode),
// so the contract has the same keys in every stack.
const (
	ExportMonitoringNamespace = "monitoringNamespace" // where Prometheus runs (the operator's namespace in operator mode)
	ExportPrometheusURL       = "prometheusUrl"       // http://<service>.<namespace>.svc.cluster.local:9090
	ExportGrafanaURL          = "grafanaUrl"          // Grafana's ingress URL, or its in-cluster URL without one
)

// monitoringExports are the export keys deployMonitoring adds, in the order the README documents them.
var monitoringExports = []string{ExportMonitoringNamespace, ExportPrometheusURL, ExportGrafanaURL}

// deployMonitoring deploys the monitoring stack when the stack enables it and returns its exports.
// logs is the logging stack (nil when off): Grafana gets it as a datasource.
func deployMonitoring(ctx *pulumi.Context, cfg *stacks.Config, provider pulumi.ProviderResource, generated *secrets.Secrets, scaling []monitoring.ScalingTarget,
	nexios *app.App, logs *logging.Logging) (pulumi.Map, error) {
	if !cfg.Monitoring.Enabled {
		off := pulumi.Map{}
		for _, key := range monitoringExports {
			off[key] = pulumi.String("")
		}
		return off, nil
	}
	args := monitoringArgs(cfg, scaling, generated, nexios, logs)
	m, err := monitoring.NewMonitoring(ctx, monitoringName(cfg), args, pulumi.Provider(provider))
	if err != nil {
		return nil, fmt.Errorf("deploying the monitoring stack: %w", err)
	}
	grafanaURL := pulumi.All(m.GrafanaPublicURL, m.GrafanaURL).ApplyT(func(v []any) string {
		if public := v[0].(string); public != "" {
			return public
		}
		return v[1].(string)
	}).(pulumi.StringOutput)
	return pulumi.Map{
		ExportMonitoringNamespace: m.Namespace,
		ExportPrometheusURL:       m.PrometheusURL,
		ExportGrafanaURL:          grafanaURL,
	}, nil
}

// monitoringName is the monitoring component's name; the logging stack's policy selects Grafana's pods by it.
func monitoringName(cfg *stacks.Config) string { return cfg.App.Name + "-monitoring" }

// scalingTargets resolves app.autoscaling.customMetrics, in name order, into the metrics the HPA scales
// on and the monitoring stack records, serves, alerts on and charts: each name is a built-in metric or
// one of the stack's metricDefinitions, resolved once here so that all five read the same
// appmetrics.ScalingMetric. Without autoscaling there are none.
func scalingTargets(cfg *stacks.Config) ([]monitoring.ScalingTarget, error) {
	h := cfg.App.Autoscaling
	if !h.Enabled {
		return nil, nil
	}
	defs := h.Definitions()
	var targets []monitoring.ScalingTarget
	for _, name := range slices.Sorted(maps.Keys(h.CustomMetrics)) {
		metric, err := appmetrics.Resolve(name, defs)
		if err != nil {
			return nil, fmt.Errorf("app.autoscaling.customMetrics.%s: %w", name, err)
		}
		targets = append(targets, monitoring.ScalingTarget{Metric: metric, Target: string(h.CustomMetrics[name])})
	}
	return targets, nil
}

// monitoringArgs maps the stack's monitoring section, the app's outputs and the resolved scaling
// metrics (scalingTargets) onto the component. nexios and logs may be nil where only the sizing is wanted.
func monitoringArgs(cfg *stacks.Config, scaling []monitoring.ScalingTarget, generated *secrets.Secrets, nexios *app.App, logs *logging.Logging) *monitoring.MonitoringArgs {
	c := cfg.Monitoring
	args := &monitoring.MonitoringArgs{
		Namespace:   c.Namespace,
		Environment: string(cfg.Environment),
		Mode:        monitoring.Mode(c.Mode),
		Prometheus: monitoring.Prometheus{
			Retention:     c.Retention,
			RetentionSize: c.RetentionSize,
			StorageSize:   c.StorageSize,
			Resources:     resources(c.Prometheus.Resources),
		},
		Alertmanager: monitoring.Alertmanager{
			Replicas:        c.Alertmanager.Replicas,
			WebhookURL:      secretOrNil(c.Alertmanager.WebhookURL),
			SlackWebhookURL: secretOrNil(c.Alertmanager.SlackWebhookURL),
		},
		Alerts: monitoring.Thresholds(c.Alerts),
		Grafana: monitoring.Grafana{
			IngressHost:      c.Grafana.IngressHost,
			IngressClassName: cfg.App.Ingress.ClassName,
		},
		Adapter: monitoring.Adapter{Replicas: c.Adapter.Replicas},
	}
	if cfg.App.NetworkPolicy.Enabled {
		args.Grafana.IngressControllerNamespace = cfg.App.NetworkPolicy.IngressControllerNamespace
	}
	// The one declaration: the HPA (appArgs) and the monitoring stack read the same resolved metrics.
	if cfg.App.Autoscaling.Enabled {
		args.App.Autoscaled = true
		args.ScalingMetrics = scaling
	}
	if generated != nil {
		args.Grafana.AdminPassword = generated.GrafanaAdminPassword
	}
	if nexios != nil {
		args.App = monitoring.AppTarget{
			Name:        cfg.App.Name,
			Namespace:   nexios.Namespace,
			PodLabels:   nexios.PodLabels,
			MetricsPort: nexios.MetricsPort,
			MetricsPath: nexios.MetricsPath,
			Deployment:  nexios.DeploymentName,
			Autoscaled:  args.App.Autoscaled,
		}
	}
	if logs != nil && generated != nil {
		// Grafana reads the logs as the read-only user the logging setup Job creates, trusting the
		// logging stack's CA.
		args.Grafana.ElasticsearchURL = logs.ElasticsearchURL
		args.Grafana.ElasticsearchIndex = logs.DataStream
		args.Grafana.ElasticsearchUser = logging.UserGrafanaReader
		args.Grafana.ElasticsearchPassword = generated.GrafanaReaderPassword
		args.Grafana.ElasticsearchCA = logs.CACertificate
	}
	return args
}

// secretOrNil keeps a configured secret secret, and leaves an unset one nil (no receiver).
func secretOrNil(value string) pulumi.StringInput {
	if value == "" {
		return nil
	}
	return pulumi.ToSecret(pulumi.String(value)).(pulumi.StringOutput)
}
