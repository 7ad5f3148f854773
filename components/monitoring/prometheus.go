package monitoring

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

const (
	prometheusConfigKey = "prometheus.yaml"
	prometheusDataDir   = "/prometheus"
)

type prometheusServer struct {
	url pulumi.StringOutput
}

// appScrape resolves the app's outputs into the plain AppScrape the generated files need.
func (b *builder) appScrape() pulumi.AnyOutput {
	app := b.args.App
	return pulumi.All(app.Namespace, app.PodLabels, app.MetricsPort, app.MetricsPath).ApplyT(func(v []any) any {
		return AppScrape{Job: app.Name, Namespace: v[0].(string), PodLabels: v[1].(map[string]string), Port: v[2].(int), Path: v[3].(string)}
	}).(pulumi.AnyOutput)
}

// ruleSettings are the rule file's inputs once the app's namespace is known.
func (b *builder) ruleSettings(appNamespace string) RuleSettings {
	return RuleSettings{
		AppJob:              b.args.App.Name,
		AppNamespace:        appNamespace,
		MonitoringNamespace: b.args.Namespace,
		Thresholds:          b.args.Alerts,
		ScalingMetrics:      b.args.ScalingMetrics,
	}
}

// prometheus deploys the server as a StatefulSet governed by a headless Service: with a volume claim
// per replica when StorageSize is set, on a size-bounded emptyDir otherwise (dev, and clusters without
// a storage provisioner).
func (b *builder) prometheus() (*prometheusServer, error) {
	p := b.args.Prometheus
	scrape := b.appScrape()
	config := scrape.ApplyT(func(app any) (string, error) {
		return PrometheusConfig(ScrapeSettings{Instance: b.name, MonitoringNamespace: b.args.Namespace, App: app.(AppScrape)})
	}).(pulumi.StringOutput)
	rules := b.args.App.Namespace.ToStringOutput().ApplyT(func(ns string) (string, error) {
		return RulesFile(b.ruleSettings(ns))
	}).(pulumi.StringOutput)

	configData := pulumi.StringMap{prometheusConfigKey: config}
	rulesData := pulumi.StringMap{rulesFileName: rules}
	configMap, err := corev1.NewConfigMap(b.ctx, b.name+"-prometheus-config", &corev1.ConfigMapArgs{
		Metadata: b.meta(namePrometheus), Data: configData,
	}, b.child, b.inNamespace)
	if err != nil {
		return nil, fmt.Errorf("creating prometheus config map: %w", err)
	}
	rulesMap, err := corev1.NewConfigMap(b.ctx, b.name+"-prometheus-rules", &corev1.ConfigMapArgs{
		Metadata: b.meta(namePrometheus), Data: rulesData,
	}, b.child, b.inNamespace)
	if err != nil {
		return nil, fmt.Errorf("creating prometheus rules config map: %w", err)
	}

	sa, err := b.serviceAccount(namePrometheus, true)
	if err != nil {
		return nil, err
	}
	if err := b.clusterRole(namePrometheus, sa, rbacv1.PolicyRuleArray{
		// Service discovery: pods (the app and the stack), endpoint slices and services (the API server),
		// nodes (kubelets); nodes/metrics to scrape the kubelets; /metrics to scrape the API server.
		rule("", []string{"pods", "services", "nodes"}, "get", "list", "watch"),
		rule("discovery.k8s.io", []string{"endpointslices"}, "get", "list", "watch"),
		rule("", []string{"nodes/metrics"}, "get"),
		rbacv1.PolicyRuleArgs{NonResourceURLs: pulumi.StringArray{pulumi.String("/metrics")}, Verbs: pulumi.StringArray{pulumi.String("get")}},
	}); err != nil {
		return nil, err
	}

	storage, err := newPrometheusStorage(p)
	if err != nil {
		return nil, err
	}

	args := pulumi.StringArray{
		pulumi.String("--config.file=" + prometheusConfigDir + "/" + prometheusConfigKey),
		pulumi.String("--storage.tsdb.path=" + prometheusDataDir),
		pulumi.String("--storage.tsdb.retention.time=" + p.Retention),
		pulumi.String(fmt.Sprintf("--web.listen-address=:%d", prometheusPort)),
	}
	if storage.retentionSize != "" {
		args = append(args, pulumi.String("--storage.tsdb.retention.size="+storage.retentionSize))
	}
	spec := &appsv1.StatefulSetSpecArgs{
		Replicas: pulumi.Int(1),
		Selector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(namePrometheus))},
	}
	volumes := corev1.VolumeArray{
		corev1.VolumeArgs{Name: pulumi.String("config"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: configMap.Metadata.Name()}},
		corev1.VolumeArgs{Name: pulumi.String("rules"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: rulesMap.Metadata.Name()}},
	}
	if p.StorageSize != "" {
		claim := &corev1.PersistentVolumeClaimSpecArgs{
			AccessModes: pulumi.StringArray{pulumi.String("ReadWriteOnce")},
			Resources:   &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String(p.StorageSize)}},
		}
		if p.StorageClass != "" {
			claim.StorageClassName = pulumi.String(p.StorageClass)
		}
		spec.VolumeClaimTemplates = corev1.PersistentVolumeClaimTypeArray{corev1.PersistentVolumeClaimTypeArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("data"), Labels: kube.StringMap(b.selector(namePrometheus))},
			Spec:     claim,
		}}
		// Keep the data when the StatefulSet goes, delete it with a scale-down that never happens here.
		spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs{
			WhenDeleted: pulumi.String("Retain"), WhenScaled: pulumi.String("Retain"),
		}
	} else {
		volumes = append(volumes, corev1.VolumeArgs{Name: pulumi.String("data"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{
			SizeLimit: pulumi.String(storage.dataSize),
		}})
	}
	container := corev1.ContainerArgs{
		Name:  pulumi.String(namePrometheus),
		Image: pulumi.String(imagePrometheus),
		Args:  args,
		Ports: corev1.ContainerPortArray{
			corev1.ContainerPortArgs{Name: pulumi.String(portHTTP), ContainerPort: pulumi.Int(prometheusPort), Protocol: pulumi.String("TCP")},
		},
		Resources:      p.Resources.WithEphemeralStorage(storage.ephemeral).Args(),
		LivenessProbe:  kube.HTTPProbe{Path: "/-/healthy", PeriodSeconds: 15, TimeoutSeconds: 5, FailureThreshold: 4}.Args(portHTTP),
		ReadinessProbe: kube.HTTPProbe{Path: "/-/ready", PeriodSeconds: 5, TimeoutSeconds: 4, FailureThreshold: 3}.Args(portHTTP),
		// Replaying a large WAL after a restart takes minutes: allow ten before liveness applies.
		StartupProbe:    kube.HTTPProbe{Path: "/-/ready", PeriodSeconds: 10, TimeoutSeconds: 4, FailureThreshold: 60}.Args(portHTTP),
		SecurityContext: kube.RestrictedContainerSecurityContext(),
		VolumeMounts: corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String(prometheusConfigDir), ReadOnly: pulumi.Bool(true)},
			corev1.VolumeMountArgs{Name: pulumi.String("rules"), MountPath: pulumi.String(prometheusRulesDir), ReadOnly: pulumi.Bool(true)},
			corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String(prometheusDataDir)},
		},
	}
	template := b.podTemplate(namePrometheus, sa, true, kube.Checksum(configData, rulesData), &corev1.PodSpecArgs{
		Containers: corev1.ContainerArray{container},
		Volumes:    volumes,
		// Let Prometheus flush its head block before it is killed.
		TerminationGracePeriodSeconds: pulumi.Int(120),
	})
	spec.Template = template
	// The Services come after the pod template, which kube.NewService checks them against; the pods
	// themselves need neither Service's name.
	service, err := b.service("prometheus", namePrometheus, portHTTP, prometheusPort, template)
	if err != nil {
		return nil, err
	}
	// The StatefulSet's governing Service must be headless: it gives the pod its stable DNS name
	// (<pod>.<service>), which a ClusterIP Service does not. Clients keep the ClusterIP Service.
	governing, err := kube.NewService(b.ctx, b.name+"-prometheus-headless", &corev1.ServiceArgs{
		Metadata: b.meta(namePrometheus),
		Spec: &corev1.ServiceSpecArgs{
			ClusterIP: pulumi.String("None"),
			Selector:  kube.StringMap(b.selector(namePrometheus)),
			Ports: corev1.ServicePortArray{corev1.ServicePortArgs{
				Name: pulumi.String(portHTTP), Port: pulumi.Int(prometheusPort), TargetPort: pulumi.String(portHTTP), Protocol: pulumi.String("TCP"),
			}},
		},
	}, b.backend(template), b.child, b.inNamespace)
	if err != nil {
		return nil, fmt.Errorf("prometheus governing service: %w", err)
	}
	spec.ServiceName = governing.Metadata.Name().Elem()
	_, err = appsv1.NewStatefulSet(b.ctx, b.name+"-prometheus", &appsv1.StatefulSetArgs{
		Metadata: b.meta(namePrometheus),
		Spec:     spec,
	}, b.child, b.inNamespace)
	if err != nil {
		return nil, fmt.Errorf("creating prometheus: %w", err)
	}
	return &prometheusServer{url: b.serviceURL(service, prometheusPort)}, nil
}

// rule is an RBAC rule granting verbs on resources of one API group.
func rule(group string, resources []string, verbs ...string) rbacv1.PolicyRuleArgs {
	return rbacv1.PolicyRuleArgs{
		ApiGroups: pulumi.StringArray{pulumi.String(group)},
		Resources: pulumi.ToStringArray(resources),
		Verbs:     pulumi.ToStringArray(verbs),
	}
}

// clusterRole grants a workload's service account rules across the cluster.
func (b *builder) clusterRole(workload string, sa *corev1.ServiceAccount, rules rbacv1.PolicyRuleArray) error {
	role, err := rbacv1.NewClusterRole(b.ctx, b.name+"-"+workload, &rbacv1.ClusterRoleArgs{
		Metadata: b.clusterMeta(workload),
		Rules:    rules,
	}, b.child)
	if err != nil {
		return fmt.Errorf("creating %s cluster role: %w", workload, err)
	}
	return b.bindClusterRole(workload, "", role.Metadata.Name().Elem(), sa)
}

// bindClusterRole binds a cluster role to a service account; suffix tells several bindings apart.
func (b *builder) bindClusterRole(workload, suffix string, role pulumi.StringInput, sa *corev1.ServiceAccount) error {
	_, err := rbacv1.NewClusterRoleBinding(b.ctx, b.name+"-"+workload+suffix, &rbacv1.ClusterRoleBindingArgs{
		Metadata: b.clusterMeta(workload),
		RoleRef: rbacv1.RoleRefArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"),
			Kind:     pulumi.String("ClusterRole"),
			Name:     role,
		},
		Subjects: rbacv1.SubjectArray{rbacv1.SubjectArgs{
			Kind: pulumi.String("ServiceAccount"), Name: sa.Metadata.Name().Elem(), Namespace: b.namespace,
		}},
	}, b.child)
	if err != nil {
		return fmt.Errorf("binding %s cluster role: %w", workload, err)
	}
	return nil
}
