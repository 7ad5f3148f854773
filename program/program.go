// Package program is the one Pulumi program of nexios-k8s: main.go runs it under `pulumi up`, and the
// pipeline command runs it inline through the Automation API, so both deploy exactly the same thing.
package program

import (
	"fmt"
	"maps"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/app"
	"github.com/nexios-labs/nexios-k8s/components/kube"
	"github.com/nexios-labs/nexios-k8s/components/monitoring"
	"github.com/nexios-labs/nexios-k8s/components/secrets"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// The stack exports: the contract other teams read through StackReference or `outputs --json`.
// Secret values are never exported; secret names are.
const (
	ExportEnvironment    = "environment"    // dev or prod
	ExportNamespace      = "namespace"      // the app's namespace
	ExportServiceName    = "serviceName"    // the app's Service
	ExportServicePort    = "servicePort"    // the Service's HTTP port
	ExportInternalURL    = "internalUrl"    // http://<service>.<namespace>.svc.cluster.local:<port>
	ExportPublicURL      = "publicUrl"      // the ingress URL; "" without an ingress
	ExportImage          = "image"          // the image deployed
	ExportDeploymentName = "deploymentName" // the app's Deployment
	ExportSecretName     = "appSecretName"  // the Secret holding DATABASE_URL, SECRET_KEY and secretEnv
	ExportConfigMapName  = "configMapName"  // the ConfigMap holding the plain environment
	ExportMetricsPort    = "metricsPort"    // where Prometheus scrapes the app
	ExportMetricsPath    = "metricsPath"
)

// Exports lists every export key in the order the README documents them.
var Exports = []string{
	ExportEnvironment, ExportNamespace, ExportServiceName, ExportServicePort, ExportInternalURL, ExportPublicURL,
	ExportImage, ExportDeploymentName, ExportSecretName, ExportConfigMapName, ExportMetricsPort, ExportMetricsPath,
	ExportLoggingNamespace, ExportElasticsearchURL, ExportKibanaURL, ExportLogsDataStream, ExportLoggingSecret,
	ExportMonitoringNamespace, ExportPrometheusURL, ExportGrafanaURL,
}

// Run is the program: it reads and validates the stack's configuration before registering anything,
// deploys, and exports the contract.
func Run(ctx *pulumi.Context) error {
	cfg, err := stacks.FromContext(ctx)
	if err != nil {
		return err
	}
	exports, err := Deploy(ctx, cfg)
	if err != nil {
		return err
	}
	for key, value := range exports {
		ctx.Export(key, value)
	}
	return nil
}

// Deploy builds every component for a validated configuration and returns the stack exports.
func Deploy(ctx *pulumi.Context, cfg *stacks.Config) (pulumi.Map, error) {
	// Every object carries the stack's identity as a label, which Kubernetes must accept.
	if err := kube.ValidateStackIdentity(ctx.Project(), ctx.Stack()); err != nil {
		return nil, err
	}
	provider, err := kubernetes.NewProvider(ctx, "kubernetes", providerArgs(cfg.Target))
	if err != nil {
		return nil, fmt.Errorf("creating kubernetes provider: %w", err)
	}
	generated, err := secrets.NewSecrets(ctx, cfg.App.Name+"-secrets", secretsArgs(cfg))
	if err != nil {
		return nil, fmt.Errorf("generating secrets: %w", err)
	}
	scaling, err := scalingTargets(cfg)
	if err != nil {
		return nil, err
	}
	nexios, err := app.NewApp(ctx, cfg.App.Name, appArgs(cfg, generated, scaling), pulumi.Provider(provider))
	if err != nil {
		return nil, fmt.Errorf("deploying the app: %w", err)
	}
	if err := deployDatabase(ctx, cfg, provider, generated, nexios); err != nil {
		return nil, err
	}
	logs, loggingExports, err := deployLogging(ctx, cfg, provider, generated)
	if err != nil {
		return nil, err
	}
	monitoringExports, err := deployMonitoring(ctx, cfg, provider, generated, scaling, nexios, logs)
	if err != nil {
		return nil, err
	}
	exports := pulumi.Map{
		ExportEnvironment:    pulumi.String(string(cfg.Environment)),
		ExportNamespace:      nexios.Namespace,
		ExportServiceName:    nexios.ServiceName,
		ExportServicePort:    nexios.ServicePort,
		ExportInternalURL:    nexios.InternalURL,
		ExportPublicURL:      nexios.PublicURL,
		ExportImage:          nexios.Image,
		ExportDeploymentName: nexios.DeploymentName,
		ExportSecretName:     nexios.SecretName,
		ExportConfigMapName:  nexios.ConfigMapName,
		ExportMetricsPort:    nexios.MetricsPort,
		ExportMetricsPath:    nexios.MetricsPath,
	}
	maps.Copy(exports, loggingExports)
	maps.Copy(exports, monitoringExports)
	return exports, nil
}

// providerArgs target a cluster through a kubeconfig, or a directory of rendered YAML.
func providerArgs(t stacks.Target) *kubernetes.ProviderArgs {
	args := &kubernetes.ProviderArgs{EnableServerSideApply: pulumi.Bool(true)}
	if t.RenderYAMLTo != "" {
		args.RenderYamlToDirectory = pulumi.String(t.RenderYAMLTo)
		return args
	}
	if t.Kubeconfig != "" {
		args.Kubeconfig = pulumi.String(t.Kubeconfig)
	}
	if t.Context != "" {
		args.Context = pulumi.String(t.Context)
	}
	return args
}

func secretsArgs(cfg *stacks.Config) *secrets.SecretsArgs {
	r := cfg.Secrets.Rotation
	return &secrets.SecretsArgs{
		AppSecretKeyRotation:            r.AppSecretKey,
		GrafanaAdminPasswordRotation:    r.GrafanaAdminPassword,
		ElasticPasswordRotation:         r.ElasticPassword,
		KibanaSystemPasswordRotation:    r.KibanaSystemPassword,
		FluentBitWriterPasswordRotation: r.FluentBitWriterPassword,
		GrafanaReaderPasswordRotation:   r.GrafanaReaderPassword,
		GrafanaAdminPassword:            runsGrafana(cfg),
		ElasticPassword:                 cfg.Logging.Enabled,
		GrafanaReaderPassword:           runsGrafana(cfg) && cfg.Logging.Enabled,
		DatabasePassword:                cfg.Postgres.Enabled,
	}
}

// runsGrafana says the stack deploys Grafana: monitoring in bundled mode (operator mode brings none).
func runsGrafana(cfg *stacks.Config) bool {
	return cfg.Monitoring.Enabled && cfg.Monitoring.Mode == "bundled"
}

// appArgs maps the stack's app section onto the component; scaling are the resolved custom metrics
// the HPA scales on (scalingTargets).
func appArgs(cfg *stacks.Config, generated *secrets.Secrets, scaling []monitoring.ScalingTarget) *app.AppArgs {
	c := cfg.App
	args := &app.AppArgs{
		Name:            c.Name,
		Namespace:       cfg.Target.Namespace,
		Environment:     string(cfg.Environment),
		Image:           pulumi.String(c.Image),
		Replicas:        c.Replicas,
		Port:            c.Port,
		Metrics:         app.MetricsEndpoint{Path: c.Metrics.Path, Port: c.Metrics.Port},
		Env:             pulumi.ToStringMap(c.Env),
		SecretEnv:       secretMap(c.SecretEnv),
		DatabaseURL:     appDatabaseURL(cfg, generated),
		SecretKey:       generated.AppSecretKey,
		ConfigFiles:     pulumi.ToStringMap(c.ConfigFiles),
		ConfigMountPath: c.ConfigMountPath,
		Resources:       resources(c.Resources),
		Probes: app.Probes{
			Liveness:  probe(c.Probes.Liveness),
			Readiness: probe(c.Probes.Readiness),
			Startup:   probe(c.Probes.Startup),
		},
		Rollout: app.Rollout{
			MaxSurge:                      string(c.Rollout.MaxSurge),
			RevisionHistoryLimit:          c.Rollout.RevisionHistoryLimit,
			MinReadySeconds:               c.Rollout.MinReadySeconds,
			ProgressDeadlineSeconds:       c.Rollout.ProgressDeadlineSeconds,
			PreStopSleepSeconds:           c.Rollout.PreStopSleepSeconds,
			TerminationGracePeriodSeconds: c.Rollout.TerminationGracePeriodSeconds,
		},
		HighAvailability: app.HighAvailability(c.HighAvailability),
		Service:          app.Service(c.Service),
		LimitRange:       c.LimitRange.Enabled,
	}
	for _, v := range c.Volumes {
		args.Volumes = append(args.Volumes, app.Volume(v))
	}
	for _, r := range c.ServiceAccount.Rules {
		args.RBACRules = append(args.RBACRules, app.PolicyRule(r))
	}
	if h := c.Autoscaling; h.Enabled {
		custom := map[string]string{}
		for _, s := range scaling {
			custom[s.Metric.Name] = s.Target
		}
		args.Autoscaling = &app.Autoscaling{
			MinReplicas:       h.MinReplicas,
			MaxReplicas:       h.MaxReplicas,
			CPUUtilization:    h.CPUUtilization,
			MemoryUtilization: h.MemoryUtilization,
			CustomMetrics:     custom,
			Behavior:          app.ScalingBehavior(h.Behavior),
		}
	}
	if c.Disruption.Enabled {
		args.DisruptionBudget = &app.DisruptionBudget{MaxUnavailable: string(c.Disruption.MaxUnavailable)}
	}
	if in := c.Ingress; in.Enabled {
		args.Ingress = &app.Ingress{ClassName: in.ClassName, Host: in.Host, Path: in.Path, Annotations: in.Annotations}
		if in.TLS.Enabled {
			args.Ingress.TLS = &app.IngressTLS{SecretName: in.TLS.SecretName, ClusterIssuer: in.TLS.ClusterIssuer}
		}
	}
	if np := c.NetworkPolicy; np.Enabled {
		args.NetworkPolicy = &app.NetworkPolicy{
			IngressControllerNamespace: np.IngressControllerNamespace,
			MonitoringNamespace:        cfg.Monitoring.Namespace,
			AllowFromNamespaces:        np.AllowFromNamespaces,
			RestrictEgress:             np.RestrictEgress,
			EgressPorts:                np.EgressPorts,
		}
	}
	if q := c.Quota; q.Enabled {
		args.Quota = &app.Quota{RequestsCPU: q.RequestsCPU, RequestsMemory: q.RequestsMemory, LimitsCPU: q.LimitsCPU, LimitsMemory: q.LimitsMemory, Pods: q.Pods}
	}
	return args
}

func secretMap(m map[string]string) pulumi.StringMap {
	out := pulumi.StringMap{}
	for k, v := range m {
		out[k] = pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
	}
	return out
}

func resources(r stacks.Resources) kube.Resources {
	return kube.Resources{
		Requests: kube.ResourceList(r.Requests),
		Limits:   kube.ResourceList(r.Limits),
	}
}

func probe(p stacks.Probe) kube.HTTPProbe { return kube.HTTPProbe(p) }
