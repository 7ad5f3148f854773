package monitoring

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Where Grafana reads its provisioning and dashboards, the Secret keys of its admin password and of its
// Elasticsearch user's, and the environment variable that carries the latter into the provisioning file.
const (
	grafanaProvisioningDir = "/etc/grafana/provisioning"
	grafanaDashboardsDir   = "/etc/grafana/dashboards"
	grafanaDataDir         = "/var/lib/grafana"
	grafanaPasswordKey     = "admin-password"
	grafanaESPasswordKey   = "elasticsearch-password"
	grafanaESPasswordEnv   = "ELASTICSEARCH_PASSWORD"
	grafanaServicePort     = 80
)

// GrafanaPodSelector is the label set of the Grafana pods of the monitoring component named name, for
// policies elsewhere (the logging namespace's) that admit only Grafana.
func GrafanaPodSelector(name string) map[string]string {
	return kube.SelectorLabels(nameGrafana, name)
}

type datasourceFile struct {
	APIVersion  int          `yaml:"apiVersion"`
	Datasources []datasource `yaml:"datasources"`
}

type datasource struct {
	Name           string            `yaml:"name"`
	UID            string            `yaml:"uid"`
	Type           string            `yaml:"type"`
	Access         string            `yaml:"access"`
	URL            string            `yaml:"url"`
	IsDefault      bool              `yaml:"isDefault"`
	Editable       bool              `yaml:"editable"`
	BasicAuth      bool              `yaml:"basicAuth,omitempty"`
	BasicAuthUser  string            `yaml:"basicAuthUser,omitempty"`
	JSONData       map[string]any    `yaml:"jsonData,omitempty"`
	SecureJSONData map[string]string `yaml:"secureJsonData,omitempty"`
}

// LogsDatasource is what the Elasticsearch datasource needs, except the password: Grafana reads that
// from its environment, so the provisioning file (a ConfigMap) holds no secret.
type LogsDatasource struct {
	URL   string
	Index string
	User  string
	// CACertificate is the PEM of the CA that Elasticsearch's certificate comes from.
	CACertificate string
}

// GrafanaDatasources renders the datasource provisioning file: Prometheus, and Elasticsearch when logs
// is not nil.
func GrafanaDatasources(prometheusURL string, logs *LogsDatasource) (string, error) {
	if prometheusURL == "" {
		return "", fmt.Errorf("grafana datasources: the Prometheus URL is required")
	}
	f := datasourceFile{APIVersion: 1, Datasources: []datasource{{
		Name: "Prometheus", UID: prometheusDatasourceUID, Type: "prometheus", Access: "proxy",
		URL: prometheusURL, IsDefault: true,
		JSONData: map[string]any{"timeInterval": scrapeInterval},
	}}}
	if logs != nil {
		if logs.URL == "" || logs.User == "" || logs.CACertificate == "" {
			return "", fmt.Errorf("grafana datasources: Elasticsearch needs its URL, user and CA certificate")
		}
		f.Datasources = append(f.Datasources, datasource{
			Name: "Elasticsearch", UID: elasticsearchDatasourceUID, Type: "elasticsearch", Access: "proxy",
			URL:           logs.URL,
			BasicAuth:     true,
			BasicAuthUser: logs.User,
			// Elasticsearch serves HTTPS with the logging stack's own CA: trust exactly that one.
			JSONData: map[string]any{"index": logs.Index, "timeField": "@timestamp", "tlsAuthWithCACert": true},
			SecureJSONData: map[string]string{
				// Grafana expands ${VAR} in provisioning files from its environment when it loads them.
				"basicAuthPassword": "${" + grafanaESPasswordEnv + "}",
				"tlsCACert":         logs.CACertificate,
			},
		})
	}
	out, err := yaml.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("grafana datasources: %w", err)
	}
	return string(out), nil
}

// grafanaDashboardProvider makes Grafana load every file in grafanaDashboardsDir, read-only: the
// dashboards are generated, so edits in the UI would be lost on the next deployment anyway.
var grafanaDashboardProvider = fmt.Sprintf(`apiVersion: 1
providers:
  - name: nexios
    type: file
    disableDeletion: true
    allowUiUpdates: false
    options:
      path: %s
`, grafanaDashboardsDir)

// grafana deploys Grafana with its datasources and dashboards provisioned from files and its admin
// password from a Secret. It returns the in-cluster URL and the ingress URL ("" without one).
func (b *builder) grafana(prometheusURL pulumi.StringOutput) (pulumi.StringOutput, pulumi.StringOutput, error) {
	g := b.args.Grafana
	none := pulumi.String("").ToStringOutput()
	inputs := []any{prometheusURL}
	if g.ElasticsearchURL != nil {
		inputs = append(inputs, g.ElasticsearchURL, g.ElasticsearchIndex, g.ElasticsearchCA)
	}
	datasources := pulumi.All(inputs...).ApplyT(func(v []any) (string, error) {
		var logs *LogsDatasource
		if len(v) > 1 {
			logs = &LogsDatasource{URL: v[1].(string), Index: v[2].(string), User: g.ElasticsearchUser, CACertificate: v[3].(string)}
		}
		return GrafanaDatasources(v[0].(string), logs)
	}).(pulumi.StringOutput)
	dashboards := pulumi.All(b.appScrape(), b.args.App.Deployment).ApplyT(func(v []any) (map[string]string, error) {
		app := v[0].(AppScrape)
		s := DashboardSettings{
			AppJob: app.Job, AppNamespace: app.Namespace, Deployment: v[1].(string), Autoscaled: b.args.App.Autoscaled,
			ScalingMetrics: b.args.ScalingMetrics, MonitoringNamespace: b.args.Namespace,
		}
		appBoard, err := AppDashboard(s)
		if err != nil {
			return nil, err
		}
		stackBoard, err := StackDashboard(s)
		if err != nil {
			return nil, err
		}
		return map[string]string{"nexios.json": appBoard, "monitoring.json": stackBoard}, nil
	}).(pulumi.StringMapOutput)

	provisioning := pulumi.StringMap{"datasources.yaml": datasources, "dashboards.yaml": pulumi.String(grafanaDashboardProvider)}
	provisioningMap, err := corev1.NewConfigMap(b.ctx, b.name+"-grafana-provisioning", &corev1.ConfigMapArgs{
		Metadata: b.meta(nameGrafana), Data: provisioning,
	}, b.child, b.inNamespace)
	if err != nil {
		return none, none, fmt.Errorf("creating grafana provisioning config map: %w", err)
	}
	dashboardsMap, err := corev1.NewConfigMap(b.ctx, b.name+"-grafana-dashboards", &corev1.ConfigMapArgs{
		Metadata: b.meta(nameGrafana), Data: dashboards,
	}, b.child, b.inNamespace)
	if err != nil {
		return none, none, fmt.Errorf("creating grafana dashboards config map: %w", err)
	}
	secretData := pulumi.StringMap{grafanaPasswordKey: pulumi.ToSecret(g.AdminPassword).(pulumi.StringOutput)}
	secret, err := corev1.NewSecret(b.ctx, b.name+"-grafana-admin", &corev1.SecretArgs{
		Metadata:   b.meta(nameGrafana),
		Type:       pulumi.String("Opaque"),
		StringData: secretData,
	}, b.child, b.inNamespace, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))
	if err != nil {
		return none, none, fmt.Errorf("creating grafana admin secret: %w", err)
	}
	// Everything the pod reads at start: a change to any of it rolls the pod.
	checksummed := []pulumi.StringMapInput{provisioning, dashboards, secretData}
	var esEnv corev1.EnvVarArray
	if g.ElasticsearchURL != nil {
		// Its own Secret: the admin password is for people, this one only for the datasource.
		esData := pulumi.StringMap{grafanaESPasswordKey: pulumi.ToSecret(g.ElasticsearchPassword).(pulumi.StringOutput)}
		esSecret, err := corev1.NewSecret(b.ctx, b.name+"-grafana-elasticsearch", &corev1.SecretArgs{
			Metadata:   b.meta(nameGrafana),
			Type:       pulumi.String("Opaque"),
			StringData: esData,
		}, b.child, b.inNamespace, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))
		if err != nil {
			return none, none, fmt.Errorf("creating grafana elasticsearch secret: %w", err)
		}
		checksummed = append(checksummed, esData)
		esEnv = corev1.EnvVarArray{corev1.EnvVarArgs{
			Name: pulumi.String(grafanaESPasswordEnv),
			ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
				Name: esSecret.Metadata.Name(), Key: pulumi.String(grafanaESPasswordKey),
			}},
		}}
	}
	sa, err := b.serviceAccount(nameGrafana, false)
	if err != nil {
		return none, none, err
	}

	env := corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String("GF_SECURITY_ADMIN_USER"), Value: pulumi.String("admin")},
		corev1.EnvVarArgs{
			Name: pulumi.String("GF_SECURITY_ADMIN_PASSWORD"),
			ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
				Name: secret.Metadata.Name(), Key: pulumi.String(grafanaPasswordKey),
			}},
		},
		corev1.EnvVarArgs{Name: pulumi.String("GF_PATHS_PROVISIONING"), Value: pulumi.String(grafanaProvisioningDir)},
		corev1.EnvVarArgs{Name: pulumi.String("GF_PATHS_DATA"), Value: pulumi.String(grafanaDataDir)},
		// The root filesystem is read-only: log to stdout only.
		corev1.EnvVarArgs{Name: pulumi.String("GF_LOG_MODE"), Value: pulumi.String("console")},
		// Nothing in the cluster should call home.
		corev1.EnvVarArgs{Name: pulumi.String("GF_ANALYTICS_REPORTING_ENABLED"), Value: pulumi.String("false")},
		corev1.EnvVarArgs{Name: pulumi.String("GF_ANALYTICS_CHECK_FOR_UPDATES"), Value: pulumi.String("false")},
		corev1.EnvVarArgs{Name: pulumi.String("GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES"), Value: pulumi.String("false")},
	}
	env = append(env, esEnv...)
	if g.IngressHost != "" {
		env = append(env, corev1.EnvVarArgs{Name: pulumi.String("GF_SERVER_ROOT_URL"), Value: pulumi.String("http://" + g.IngressHost)})
	}
	// Liveness asks /healthz, which answers while Grafana's web server runs; readiness asks
	// /api/health, which also queries Grafana's database and fails while it cannot. A database that is
	// slow or locked takes Grafana out of the Service; only a web server that stopped answering for a
	// minute restarts it.
	liveness := kube.HTTPProbe{Path: "/healthz", PeriodSeconds: 10, TimeoutSeconds: 3, FailureThreshold: 6}
	readiness := kube.HTTPProbe{Path: "/api/health", PeriodSeconds: 10, TimeoutSeconds: 3, FailureThreshold: 3}
	container := corev1.ContainerArgs{
		Name:  pulumi.String(nameGrafana),
		Image: pulumi.String(imageGrafana),
		Env:   env,
		Ports: corev1.ContainerPortArray{
			corev1.ContainerPortArgs{Name: pulumi.String(portHTTP), ContainerPort: pulumi.Int(grafanaPort), Protocol: pulumi.String("TCP")},
		},
		Resources:       g.Resources.WithEphemeralStorage(grafanaEphemeralStorage).Args(),
		LivenessProbe:   liveness.Args(portHTTP),
		ReadinessProbe:  readiness.Args(portHTTP),
		SecurityContext: kube.RestrictedContainerSecurityContext(),
		VolumeMounts: corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String("provisioning"), MountPath: pulumi.String(grafanaProvisioningDir + "/datasources/datasources.yaml"), SubPath: pulumi.String("datasources.yaml"), ReadOnly: pulumi.Bool(true)},
			corev1.VolumeMountArgs{Name: pulumi.String("provisioning"), MountPath: pulumi.String(grafanaProvisioningDir + "/dashboards/dashboards.yaml"), SubPath: pulumi.String("dashboards.yaml"), ReadOnly: pulumi.Bool(true)},
			corev1.VolumeMountArgs{Name: pulumi.String("dashboards"), MountPath: pulumi.String(grafanaDashboardsDir), ReadOnly: pulumi.Bool(true)},
			// Users, sessions and preferences live in SQLite here; dashboards and datasources come back
			// from provisioning, so losing this with the pod loses nothing that matters.
			corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String(grafanaDataDir)},
			corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
		},
	}
	template := b.podTemplate(nameGrafana, sa, false, kube.Checksum(checksummed...), &corev1.PodSpecArgs{
		Containers: corev1.ContainerArray{container},
		Volumes: corev1.VolumeArray{
			corev1.VolumeArgs{Name: pulumi.String("provisioning"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: provisioningMap.Metadata.Name()}},
			corev1.VolumeArgs{Name: pulumi.String("dashboards"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: dashboardsMap.Metadata.Name()}},
			corev1.VolumeArgs{Name: pulumi.String("data"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(grafanaDataSize)}},
			corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(grafanaTmpSize)}},
		},
	})
	_, err = appsv1.NewDeployment(b.ctx, b.name+"-grafana", &appsv1.DeploymentArgs{
		Metadata: b.meta(nameGrafana),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(nameGrafana))},
			Template: template,
		},
	}, b.child, b.inNamespace)
	if err != nil {
		return none, none, fmt.Errorf("creating grafana: %w", err)
	}
	service, err := b.service("grafana", nameGrafana, portHTTP, grafanaServicePort, template)
	if err != nil {
		return none, none, err
	}
	if g.IngressHost == "" {
		return b.serviceURL(service, grafanaServicePort), none, nil
	}
	_, err = networkingv1.NewIngress(b.ctx, b.name+"-grafana", &networkingv1.IngressArgs{
		Metadata: b.meta(nameGrafana),
		Spec: &networkingv1.IngressSpecArgs{
			IngressClassName: pulumi.String(g.IngressClassName),
			Rules: networkingv1.IngressRuleArray{networkingv1.IngressRuleArgs{
				Host: pulumi.String(g.IngressHost),
				Http: &networkingv1.HTTPIngressRuleValueArgs{Paths: networkingv1.HTTPIngressPathArray{
					networkingv1.HTTPIngressPathArgs{
						Path:     pulumi.String("/"),
						PathType: pulumi.String("Prefix"),
						Backend: networkingv1.IngressBackendArgs{Service: &networkingv1.IngressServiceBackendArgs{
							Name: service.Metadata.Name().Elem(),
							Port: &networkingv1.ServiceBackendPortArgs{Name: pulumi.String(portHTTP)},
						}},
					},
				}},
			}},
		},
	}, b.child, b.inNamespace)
	if err != nil {
		return none, none, fmt.Errorf("creating grafana ingress: %w", err)
	}
	return b.serviceURL(service, grafanaServicePort), pulumi.String("http://" + g.IngressHost).ToStringOutput(), nil
}
