package app

import (
	"fmt"
	"time"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Pod-template annotations.
const (
	AnnotationChecksum = "checksum/config"
	// The prometheus.io annotations are what annotation-based scrape configs (and issue 5's bundled
	// Prometheus) discover.
	AnnotationScrape      = "prometheus.io/scrape"
	AnnotationScrapePort  = "prometheus.io/port"
	AnnotationScrapePath  = "prometheus.io/path"
	containerName         = "app"
	tmpVolume             = "tmp"
	configFilesVolume     = "config-files"
	tmpVolumeSizeLimit    = "64Mi"
	antiAffinityWeight    = 100
	zoneSpreadMaxSkew     = 1
	hostnameSpreadMaxSkew = 1
)

// rolloutWaitSlack is how long `up` waits for a rollout beyond its progress deadline: time for the
// deployment controller to record ProgressDeadlineExceeded, so the failure says why.
const rolloutWaitSlack = 30 * time.Second

// rolloutWait is how long the provider waits for the Deployment to become Ready on a create or an
// update. The provider only warns on ProgressDeadlineExceeded and otherwise waits its own ten minutes,
// so without this a release whose pods are never Ready would hold `up` for ten minutes whatever the
// configured deadline. A rollout still progressing at that point fails `up` and goes on in the cluster,
// as Kubernetes' deadline counts only the time without progress.
func rolloutWait(r Rollout) string {
	return (time.Duration(r.ProgressDeadlineSeconds)*time.Second + rolloutWaitSlack).String()
}

// deployment creates the app's Deployment and returns it with its metadata and pod template, which the
// Service is checked against.
func (b *builder) deployment(sa *corev1.ServiceAccount, env *environment, claims map[string]*corev1.PersistentVolumeClaim) (*appsv1.Deployment, kube.Backend, error) {
	a := b.args
	r := a.Rollout
	template := &corev1.PodTemplateSpecArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Labels: kube.StringMap(b.labels()),
			Annotations: pulumi.StringMap{
				AnnotationChecksum:   env.checksum,
				AnnotationScrape:     pulumi.String("true"),
				AnnotationScrapePort: pulumi.String(fmt.Sprint(a.Metrics.Port)),
				AnnotationScrapePath: pulumi.String(a.Metrics.Path),
			},
		},
		Spec: b.podSpec(sa, env, claims),
	}
	spec := &appsv1.DeploymentSpecArgs{
		Selector:                &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector())},
		RevisionHistoryLimit:    pulumi.Int(r.RevisionHistoryLimit),
		MinReadySeconds:         pulumi.Int(r.MinReadySeconds),
		ProgressDeadlineSeconds: pulumi.Int(r.ProgressDeadlineSeconds),
		Strategy: &appsv1.DeploymentStrategyArgs{
			Type: pulumi.String("RollingUpdate"),
			RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
				// Zero unavailable: a rollout only ever adds capacity before it removes any.
				MaxUnavailable: pulumi.Int(0),
				MaxSurge:       kube.IntOrString(r.MaxSurge),
			},
		},
		Template: template,
	}
	// With an HPA, the HPA owns spec.replicas; setting it here too would make every `up` reset the
	// scale the HPA chose (server-side apply conflicts).
	if a.Autoscaling == nil {
		spec.Replicas = pulumi.Int(a.Replicas)
	}
	meta := b.meta()
	deployment, err := appsv1.NewDeployment(b.ctx, b.name+"-deployment", &appsv1.DeploymentArgs{
		Metadata: meta,
		Spec:     spec,
	}, b.child, b.deps, pulumi.Timeouts(&pulumi.CustomTimeouts{Create: rolloutWait(r), Update: rolloutWait(r)}))
	if err != nil {
		return nil, kube.Backend{}, fmt.Errorf("creating deployment: %w", err)
	}
	return deployment, kube.Backend{Namespace: meta.Namespace, Template: template}, nil
}

func (b *builder) podSpec(sa *corev1.ServiceAccount, env *environment, claims map[string]*corev1.PersistentVolumeClaim) *corev1.PodSpecArgs {
	a := b.args
	ports := corev1.ContainerPortArray{
		corev1.ContainerPortArgs{Name: pulumi.String(portHTTP), ContainerPort: pulumi.Int(a.Port), Protocol: pulumi.String("TCP")},
	}
	if a.Metrics.Port != a.Port {
		ports = append(ports, corev1.ContainerPortArgs{Name: pulumi.String(portMetrics), ContainerPort: pulumi.Int(a.Metrics.Port), Protocol: pulumi.String("TCP")})
	}

	volumes := corev1.VolumeArray{
		// The root filesystem is read-only; Python and the app still need a scratch directory.
		corev1.VolumeArgs{Name: pulumi.String(tmpVolume), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(tmpVolumeSizeLimit)}},
	}
	mounts := corev1.VolumeMountArray{
		corev1.VolumeMountArgs{Name: pulumi.String(tmpVolume), MountPath: pulumi.String("/tmp")},
	}
	if env.files != nil {
		volumes = append(volumes, corev1.VolumeArgs{
			Name:      pulumi.String(configFilesVolume),
			ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: env.files.Metadata.Name()},
		})
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String(configFilesVolume), MountPath: pulumi.String(a.ConfigMountPath), ReadOnly: pulumi.Bool(true)})
	}
	for _, v := range a.Volumes {
		volumes = append(volumes, corev1.VolumeArgs{
			Name:                  pulumi.String("pvc-" + v.Name),
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: claims[v.Name].Metadata.Name().Elem()},
		})
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("pvc-" + v.Name), MountPath: pulumi.String(v.MountPath)})
	}

	container := corev1.ContainerArgs{
		Name:            pulumi.String(containerName),
		Image:           a.Image,
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Ports:           ports,
		Env:             b.containerEnv(env),
		EnvFrom: corev1.EnvFromSourceArray{
			corev1.EnvFromSourceArgs{ConfigMapRef: &corev1.ConfigMapEnvSourceArgs{Name: env.configMap.Metadata.Name()}},
		},
		Resources:       a.Resources.Args(),
		LivenessProbe:   a.Probes.Liveness.Args(portHTTP),
		ReadinessProbe:  a.Probes.Readiness.Args(portHTTP),
		StartupProbe:    a.Probes.Startup.Args(portHTTP),
		SecurityContext: kube.RestrictedContainerSecurityContext(),
		VolumeMounts:    mounts,
	}
	if a.Rollout.PreStopSleepSeconds > 0 {
		container.Lifecycle = &corev1.LifecycleArgs{
			PreStop: &corev1.LifecycleHandlerArgs{Sleep: &corev1.SleepActionArgs{Seconds: pulumi.Int(a.Rollout.PreStopSleepSeconds)}},
		}
	}

	spec := &corev1.PodSpecArgs{
		ServiceAccountName:            sa.Metadata.Name(),
		AutomountServiceAccountToken:  pulumi.Bool(len(a.RBACRules) > 0),
		SecurityContext:               kube.RestrictedPodSecurityContext(),
		TerminationGracePeriodSeconds: pulumi.Int(a.Rollout.TerminationGracePeriodSeconds),
		Containers:                    corev1.ContainerArray{container},
		Volumes:                       volumes,
		TopologySpreadConstraints:     b.topologySpread(),
	}
	if affinity := b.antiAffinity(); affinity != nil {
		spec.Affinity = affinity
	}
	return spec
}

// containerEnv wires the Secret's keys into the environment one by one (as the course chapter does
// with secretKeyRef), so the Secret holds nothing the pod does not name.
func (b *builder) containerEnv(env *environment) corev1.EnvVarArray {
	fromSecret := func(envName, key string) corev1.EnvVarArgs {
		return corev1.EnvVarArgs{
			Name: pulumi.String(envName),
			ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
				Name: env.secret.Metadata.Name(),
				Key:  pulumi.String(key),
			}},
		}
	}
	vars := corev1.EnvVarArray{}
	if b.args.DatabaseURL != nil {
		vars = append(vars, fromSecret("DATABASE_URL", SecretKeyDatabaseURL))
	}
	if b.args.SecretKey != nil {
		vars = append(vars, fromSecret("SECRET_KEY", SecretKeyAppSecret))
	}
	for _, name := range env.secretEnvNames {
		vars = append(vars, fromSecret(name, secretEnvKey(name)))
	}
	return vars
}

// topologySpread spreads replicas over zones and nodes. With required anti-affinity a pod that cannot
// be spread stays Pending; otherwise the scheduler prefers spreading but still schedules.
func (b *builder) topologySpread() corev1.TopologySpreadConstraintArray {
	ha := b.args.HighAvailability
	when := "ScheduleAnyway"
	if ha.AntiAffinity == "required" {
		when = "DoNotSchedule"
	}
	constraint := func(key string, skew int) corev1.TopologySpreadConstraintArgs {
		return corev1.TopologySpreadConstraintArgs{
			MaxSkew:           pulumi.Int(skew),
			TopologyKey:       pulumi.String(key),
			WhenUnsatisfiable: pulumi.String(when),
			LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector())},
			// Count only the current ReplicaSet's pods, so a rollout is not skewed by the old ones.
			MatchLabelKeys: pulumi.StringArray{pulumi.String("pod-template-hash")},
		}
	}
	var constraints corev1.TopologySpreadConstraintArray
	if ha.SpreadAcrossZones {
		constraints = append(constraints, constraint(kube.LabelZone, zoneSpreadMaxSkew))
	}
	if ha.SpreadAcrossNodes {
		constraints = append(constraints, constraint(kube.LabelHostname, hostnameSpreadMaxSkew))
	}
	return constraints
}

func (b *builder) antiAffinity() *corev1.AffinityArgs {
	term := corev1.PodAffinityTermArgs{
		TopologyKey:   pulumi.String(kube.LabelHostname),
		LabelSelector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector())},
	}
	switch b.args.HighAvailability.AntiAffinity {
	case "preferred":
		return &corev1.AffinityArgs{PodAntiAffinity: &corev1.PodAntiAffinityArgs{
			PreferredDuringSchedulingIgnoredDuringExecution: corev1.WeightedPodAffinityTermArray{
				corev1.WeightedPodAffinityTermArgs{Weight: pulumi.Int(antiAffinityWeight), PodAffinityTerm: term},
			},
		}}
	case "required":
		return &corev1.AffinityArgs{PodAntiAffinity: &corev1.PodAntiAffinityArgs{
			RequiredDuringSchedulingIgnoredDuringExecution: corev1.PodAffinityTermArray{term},
		}}
	default:
		return nil
	}
}
