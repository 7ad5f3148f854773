package program

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/logging"
	"github.com/nexios-labs/nexios-k8s/components/monitoring"
	"github.com/nexios-labs/nexios-k8s/components/secrets"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// The logging stack's exports; empty strings when logging is off, so the contract has the same keys
// in every stack.
const (
	ExportLoggingNamespace = "loggingNamespace" // the EFK stack's namespace
	ExportElasticsearchURL = "elasticsearchUrl" // https://<service>.<namespace>.svc.cluster.local:9200
	ExportKibanaURL        = "kibanaUrl"        // Kibana's ingress URL, or its in-cluster URL without one
	ExportLogsDataStream   = "logsDataStream"   // the data stream (and Kibana index pattern) of the app's logs
	ExportLoggingSecret    = "loggingSecret"    // the Secret with the Elasticsearch users' passwords and ca.crt
)

// loggingExports are the export keys deployLogging adds, in the order the README documents them.
var loggingExports = []string{ExportLoggingNamespace, ExportElasticsearchURL, ExportKibanaURL, ExportLogsDataStream, ExportLoggingSecret}

// deployLogging deploys the logging stack when the stack enables it, and returns it (nil when off) with
// its exports. Monitoring reads the component's ElasticsearchURL for Grafana's datasource.
func deployLogging(ctx *pulumi.Context, cfg *stacks.Config, provider pulumi.ProviderResource, generated *secrets.Secrets) (*logging.Logging, pulumi.Map, error) {
	if !cfg.Logging.Enabled {
		off := pulumi.Map{}
		for _, key := range loggingExports {
			off[key] = pulumi.String("")
		}
		return nil, off, nil
	}
	l, err := logging.NewLogging(ctx, cfg.App.Name+"-logging", loggingArgs(cfg, generated), pulumi.Provider(provider))
	if err != nil {
		return nil, nil, fmt.Errorf("deploying the logging stack: %w", err)
	}
	kibanaURL := pulumi.All(l.PublicKibanaURL, l.KibanaURL).ApplyT(func(v []any) string {
		if public := v[0].(string); public != "" {
			return public
		}
		return v[1].(string)
	}).(pulumi.StringOutput)
	return l, pulumi.Map{
		ExportLoggingNamespace: l.Namespace,
		ExportElasticsearchURL: l.ElasticsearchURL,
		ExportKibanaURL:        kibanaURL,
		ExportLogsDataStream:   l.DataStream,
		ExportLoggingSecret:    l.CredentialsSecret,
	}, nil
}

// loggingArgs maps the stack's logging section onto the component.
func loggingArgs(cfg *stacks.Config, generated *secrets.Secrets) *logging.LoggingArgs {
	c := cfg.Logging
	es := c.Elasticsearch
	args := &logging.LoggingArgs{
		Namespace:     c.Namespace,
		Environment:   string(cfg.Environment),
		RetentionDays: c.RetentionDays,
		Elasticsearch: logging.Elasticsearch{
			Replicas:     es.Replicas,
			StorageSize:  es.StorageSize,
			StorageClass: es.StorageClass,
			Ephemeral:    es.EphemeralStorage,
			Resources:    resources(es.Resources),
			// Zones only matter where the profile spreads the app too: prod.
			SpreadAcrossZones: cfg.App.HighAvailability.SpreadAcrossZones && es.Replicas > 1,
		},
		Kibana:                  logging.Kibana{Replicas: c.Kibana.Replicas},
		AdminPassword:           generated.ElasticPassword,
		AdminPasswordHash:       generated.ElasticPasswordHash,
		KibanaSystemPassword:    generated.KibanaSystemPassword,
		FluentBitWriterPassword: generated.FluentBitWriterPassword,
		CASeed:                  generated.ElasticCASeed,
	}
	if cfg.App.NetworkPolicy.Enabled {
		args.IngressControllerNamespace = cfg.App.NetworkPolicy.IngressControllerNamespace
	}
	if cfg.Monitoring.Enabled {
		args.MonitoringNamespace = cfg.Monitoring.Namespace
	}
	if runsGrafana(cfg) {
		args.Grafana = &logging.GrafanaReader{
			Namespace: cfg.Monitoring.Namespace,
			PodLabels: monitoring.GrafanaPodSelector(monitoringName(cfg)),
			Password:  generated.GrafanaReaderPassword,
		}
	}
	if s := c.Snapshots; s.Enabled {
		args.Snapshots = &logging.Snapshots{
			Schedule:        s.Schedule,
			ExpireAfterDays: s.ExpireAfterDays,
			MinCount:        s.MinCount,
			MaxCount:        s.MaxCount,
			StorageSize:     s.StorageSize,
			StorageClass:    s.StorageClass,
		}
	}
	if host := c.Kibana.IngressHost; host != "" {
		args.Kibana.Ingress = &logging.Ingress{ClassName: cfg.App.Ingress.ClassName, Host: host}
		// The same TLS policy as the app's ingress: a prod stack serves HTTPS.
		if cfg.App.Ingress.TLS.Enabled {
			args.Kibana.Ingress.TLSSecretName = host + "-tls"
		}
	}
	return args
}
