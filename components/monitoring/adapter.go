package monitoring

import (
	"fmt"

	apiregistrationv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiregistration/v1"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// The custom metrics API the HPA reads per-pod metrics from.
const (
	customMetricsGroup   = "custom.metrics.k8s.io"
	customMetricsVersion = "v1beta1"
	adapterConfigKey     = "config.yaml"
	// CustomMetricsAPIService is the APIService the adapter registers. The API server requires this
	// exact name (<version>.<group>), so a cluster has one: one stack's adapter serves it.
	CustomMetricsAPIService = customMetricsVersion + "." + customMetricsGroup
)

type adapterConfig struct {
	Rules []adapterRule `yaml:"rules"`
}

type adapterRule struct {
	SeriesQuery  string           `yaml:"seriesQuery"`
	Resources    adapterResources `yaml:"resources"`
	Name         adapterName      `yaml:"name"`
	MetricsQuery string           `yaml:"metricsQuery"`
}

type adapterResources struct {
	Overrides map[string]adapterResource `yaml:"overrides"`
}

type adapterResource struct {
	Resource string `yaml:"resource"`
}

type adapterName struct {
	Matches string `yaml:"matches"`
	As      string `yaml:"as"`
}

// AdapterConfig renders prometheus-adapter's rules: each scaling metric is served under its own name
// from the series its recording rule writes for the app's namespace, per pod, so the HPA reads exactly
// what the alerts and the dashboard read.
func AdapterConfig(appNamespace string, metrics []ScalingTarget) (string, error) {
	if appNamespace == "" {
		return "", fmt.Errorf("adapter config: the app's namespace is required")
	}
	cfg := adapterConfig{Rules: []adapterRule{}}
	for _, m := range metrics {
		cfg.Rules = append(cfg.Rules, adapterRule{
			SeriesQuery: fmt.Sprintf(`%s{namespace=%q,pod!=""}`, m.Metric.Name, appNamespace),
			Resources: adapterResources{Overrides: map[string]adapterResource{
				"namespace": {Resource: "namespace"},
				"pod":       {Resource: "pod"},
			}},
			Name: adapterName{Matches: "^" + m.Metric.Name + "$", As: m.Metric.Name},
			// The recorded series is already per pod; the sum only folds away Prometheus' own labels.
			MetricsQuery: "sum by (<<.GroupBy>>) (<<.Series>>{<<.LabelMatchers>>})",
		})
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("adapter config: %w", err)
	}
	return string(out), nil
}

// adapter deploys prometheus-adapter and registers it as the cluster's custom metrics API.
func (b *builder) adapter(prometheusURL pulumi.StringOutput) error {
	a := b.args.Adapter
	config := b.args.App.Namespace.ToStringOutput().ApplyT(func(ns string) (string, error) {
		return AdapterConfig(ns, b.args.ScalingMetrics)
	}).(pulumi.StringOutput)
	data := pulumi.StringMap{adapterConfigKey: config}
	configMap, err := corev1.NewConfigMap(b.ctx, b.name+"-adapter-config", &corev1.ConfigMapArgs{
		Metadata: b.meta(nameAdapter), Data: data,
	}, b.child, b.inNamespace)
	if err != nil {
		return fmt.Errorf("creating adapter config map: %w", err)
	}
	sa, err := b.serviceAccount(nameAdapter, true)
	if err != nil {
		return err
	}
	// Mapping series to pods and namespaces needs to read them.
	if err := b.clusterRole(nameAdapter, sa, rbacv1.PolicyRuleArray{
		rule("", []string{"namespaces", "pods", "services"}, "get", "list", "watch"),
	}); err != nil {
		return err
	}
	// An aggregated API server delegates authentication and authorization of its callers to the
	// cluster, and reads the client CA from kube-system to verify the API server's proxy requests.
	if err := b.bindClusterRole(nameAdapter, "-auth-delegator", pulumi.String("system:auth-delegator"), sa); err != nil {
		return err
	}
	_, err = rbacv1.NewRoleBinding(b.ctx, b.name+"-adapter-auth-reader", &rbacv1.RoleBindingArgs{
		Metadata: &metav1.ObjectMetaArgs{Namespace: pulumi.String("kube-system"), Labels: kube.StringMap(b.labels(nameAdapter))},
		RoleRef: rbacv1.RoleRefArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"),
			Kind:     pulumi.String("Role"),
			Name:     pulumi.String("extension-apiserver-authentication-reader"),
		},
		Subjects: rbacv1.SubjectArray{rbacv1.SubjectArgs{
			Kind: pulumi.String("ServiceAccount"), Name: sa.Metadata.Name().Elem(), Namespace: b.namespace,
		}},
	}, b.child)
	if err != nil {
		return fmt.Errorf("binding the adapter to the authentication reader role: %w", err)
	}

	container := corev1.ContainerArgs{
		Name:  pulumi.String(nameAdapter),
		Image: pulumi.String(imageAdapter),
		Args: pulumi.StringArray{
			pulumi.Sprintf("--secure-port=%d", adapterPort),
			// The serving certificate is self-signed at start-up, into a writable emptyDir.
			pulumi.String("--cert-dir=/tmp/cert"),
			pulumi.Sprintf("--prometheus-url=%s/", prometheusURL),
			pulumi.String("--metrics-relist-interval=1m"),
			pulumi.String("--config=/etc/adapter/" + adapterConfigKey),
		},
		Ports: corev1.ContainerPortArray{
			corev1.ContainerPortArgs{Name: pulumi.String(portHTTPS), ContainerPort: pulumi.Int(adapterPort), Protocol: pulumi.String("TCP")},
		},
		Resources: a.Resources.WithEphemeralStorage(kube.SmallEphemeralStorage).Args(),
		LivenessProbe: &corev1.ProbeArgs{
			HttpGet:       &corev1.HTTPGetActionArgs{Path: pulumi.String("/healthz"), Port: pulumi.String(portHTTPS), Scheme: pulumi.String("HTTPS")},
			PeriodSeconds: pulumi.Int(10), TimeoutSeconds: pulumi.Int(5), FailureThreshold: pulumi.Int(5),
		},
		ReadinessProbe: &corev1.ProbeArgs{
			HttpGet:       &corev1.HTTPGetActionArgs{Path: pulumi.String("/readyz"), Port: pulumi.String(portHTTPS), Scheme: pulumi.String("HTTPS")},
			PeriodSeconds: pulumi.Int(10), TimeoutSeconds: pulumi.Int(5), FailureThreshold: pulumi.Int(3),
		},
		SecurityContext: kube.RestrictedContainerSecurityContext(),
		VolumeMounts: corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String("/etc/adapter"), ReadOnly: pulumi.Bool(true)},
			corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
		},
	}
	template := b.podTemplate(nameAdapter, sa, true, kube.Checksum(data), &corev1.PodSpecArgs{
		Containers: corev1.ContainerArray{container},
		Volumes: corev1.VolumeArray{
			corev1.VolumeArgs{Name: pulumi.String("config"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: configMap.Metadata.Name()}},
			corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(adapterTmpSize)}},
		},
	})
	deployment, err := appsv1.NewDeployment(b.ctx, b.name+"-adapter", &appsv1.DeploymentArgs{
		Metadata: b.meta(nameAdapter),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(a.Replicas),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(nameAdapter))},
			Template: template,
		},
	}, b.child, b.inNamespace)
	if err != nil {
		return fmt.Errorf("creating adapter: %w", err)
	}
	if a.Replicas > 1 {
		if err := b.disruptionBudget(nameAdapter); err != nil {
			return err
		}
	}
	service, err := b.service("adapter", nameAdapter, portHTTPS, 443, template)
	if err != nil {
		return err
	}
	_, err = apiregistrationv1.NewAPIService(b.ctx, b.name+"-custom-metrics", &apiregistrationv1.APIServiceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:   pulumi.String(CustomMetricsAPIService),
			Labels: kube.StringMap(b.labels(nameAdapter)),
		},
		Spec: &apiregistrationv1.APIServiceSpecArgs{
			Group:   pulumi.String(customMetricsGroup),
			Version: pulumi.String(customMetricsVersion),
			Service: &apiregistrationv1.ServiceReferenceArgs{Name: service.Metadata.Name().Elem(), Namespace: b.namespace, Port: pulumi.Int(443)},
			// The adapter's certificate is self-signed at start-up, so there is no CA to pin. The API
			// server still authenticates itself to the adapter with its proxy client certificate.
			InsecureSkipTLSVerify: pulumi.Bool(true),
			GroupPriorityMinimum:  pulumi.Int(100),
			VersionPriority:       pulumi.Int(100),
		},
		// Registered only once the adapter runs, and removed before it. Through the adapter's config the
		// registration also depends on the app's namespace, so a destroy removes it first: a namespace
		// never finishes deleting while an aggregated API is registered but unavailable.
	}, b.child, pulumi.DependsOn([]pulumi.Resource{deployment}))
	if err != nil {
		return fmt.Errorf("registering the custom metrics API: %w", err)
	}
	return nil
}
