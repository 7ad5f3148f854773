package logging

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

const (
	kibanaPort     = 5601
	kibanaUID      = 1000
	kibanaHome     = "/usr/share/kibana"
	kibanaCertsDir = kibanaHome + "/config/certs"
)

// Kibana's encryption keys, by environment variable and Secret key: session cookies, saved-object
// secrets and reports must decrypt on every replica and after every restart, so they are derived from
// the stack's seed rather than left to Kibana, which would make up a different key per process.
var kibanaKeys = []struct{ env, key string }{
	{"XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY", "saved-objects-encryption-key"},
	{"XPACK_REPORTING_ENCRYPTIONKEY", "reporting-encryption-key"},
	{"XPACK_SECURITY_ENCRYPTIONKEY", "security-encryption-key"},
}

// kibana is what the stack's outputs say about Kibana.
type kibana struct {
	url       pulumi.StringOutput
	publicURL pulumi.StringOutput
}

func (b *builder) kibana(creds *credentials, es *elasticsearch, setup *batchv1.Job) (*kibana, error) {
	k := b.args.Kibana
	keys := b.args.CASeed.ToStringOutput().ApplyT(func(seed string) (map[string]string, error) {
		out := map[string]string{}
		for _, k := range kibanaKeys {
			v, err := deriveSecret(seed, k.key)
			if err != nil {
				return nil, err
			}
			out[k.key] = v
		}
		return out, nil
	}).(pulumi.StringMapOutput)
	keySecret, err := corev1.NewSecret(b.ctx, b.name+"-kibana-keys", &corev1.SecretArgs{
		Metadata:   b.meta(partKibana),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.ToSecret(keys).(pulumi.StringMapOutput),
	}, b.child, b.inNamespace, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))
	if err != nil {
		return nil, fmt.Errorf("creating kibana keys secret: %w", err)
	}

	fromSecret := func(name string, secret *corev1.Secret, key string) corev1.EnvVarArgs {
		return corev1.EnvVarArgs{Name: pulumi.String(name), ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: secret.Metadata.Name(), Key: pulumi.String(key)},
		}}
	}
	plain := func(name string, value pulumi.StringInput) corev1.EnvVarArgs {
		return corev1.EnvVarArgs{Name: pulumi.String(name), Value: value}
	}
	env := corev1.EnvVarArray{
		plain("ELASTICSEARCH_HOSTS", pulumi.Sprintf("[\"%s\"]", es.url)),
		// Kibana 8 refuses the elastic superuser; kibana_system is the user made for it.
		plain("ELASTICSEARCH_USERNAME", pulumi.String("kibana_system")),
		fromSecret("ELASTICSEARCH_PASSWORD", creds.secret, SecretKeyKibanaPassword),
		plain("ELASTICSEARCH_SSL_CERTIFICATEAUTHORITIES", pulumi.String(kibanaCertsDir+"/"+SecretKeyCA)),
		plain("ELASTICSEARCH_SSL_VERIFICATIONMODE", pulumi.String("full")),
		plain("SERVER_HOST", pulumi.String("0.0.0.0")),
		// The readiness probe asks /api/status without credentials.
		plain("STATUS_ALLOWANONYMOUS", pulumi.String("true")),
	}
	for _, k := range kibanaKeys {
		env = append(env, fromSecret(k.env, keySecret, k.key))
	}
	publicURL := pulumi.String("").ToStringOutput()
	if in := k.Ingress; in != nil {
		scheme := "http"
		if in.TLSSecretName != "" {
			scheme = "https"
		}
		publicURL = pulumi.Sprintf("%s://%s", scheme, in.Host)
		env = append(env, plain("SERVER_PUBLICBASEURL", publicURL))
	}

	mount := func(name, path string) corev1.VolumeMountArgs {
		return corev1.VolumeMountArgs{Name: pulumi.String(name), MountPath: pulumi.String(path)}
	}
	status := kube.HTTPProbe{Path: "/api/status", PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3}
	// Kibana migrates saved objects on its first start: up to five minutes.
	startup := kube.HTTPProbe{Path: "/api/status", PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 30}
	container := corev1.ContainerArgs{
		Name:            pulumi.String("kibana"),
		Image:           pulumi.String(KibanaImage),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Ports:           corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(kibanaPort)}},
		Env:             env,
		Resources:       k.Resources.Args(),
		StartupProbe:    startup.Args("http"),
		ReadinessProbe:  status.Args("http"),
		// Liveness only checks that Kibana listens: an Elasticsearch outage is no reason to restart it.
		LivenessProbe: &corev1.ProbeArgs{
			TcpSocket:        &corev1.TCPSocketActionArgs{Port: pulumi.String("http")},
			PeriodSeconds:    pulumi.Int(10),
			FailureThreshold: pulumi.Int(6),
		},
		SecurityContext: kube.RestrictedContainerSecurityContext(),
		VolumeMounts: corev1.VolumeMountArray{
			mount("data", kibanaHome+"/data"),
			mount("tmp", "/tmp"),
			mount("certs", kibanaCertsDir),
		},
	}
	selector := kube.StringMap(b.selector(partKibana))
	spec := &corev1.PodSpecArgs{
		SecurityContext:              kube.RestrictedPodSecurityContextAs(kibanaUID),
		AutomountServiceAccountToken: pulumi.Bool(false),
		Containers:                   corev1.ContainerArray{container},
		Volumes: corev1.VolumeArray{
			corev1.VolumeArgs{Name: pulumi.String("data"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(kibanaDataSize)}},
			corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(kibanaTmpSize)}},
			b.caVolume(creds.secret, "certs"),
		},
	}
	if k.Replicas > 1 {
		spec.Affinity = &corev1.AffinityArgs{PodAntiAffinity: &corev1.PodAntiAffinityArgs{
			PreferredDuringSchedulingIgnoredDuringExecution: corev1.WeightedPodAffinityTermArray{corev1.WeightedPodAffinityTermArgs{
				Weight: pulumi.Int(100),
				PodAffinityTerm: corev1.PodAffinityTermArgs{
					TopologyKey:   pulumi.String(kube.LabelHostname),
					LabelSelector: &metav1.LabelSelectorArgs{MatchLabels: selector},
				},
			}},
		}}
	}
	template := &corev1.PodTemplateSpecArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Labels: kube.StringMap(b.labels(partKibana)),
			// Kibana reads its password at start: a rotated one restarts it.
			Annotations: pulumi.StringMap{AnnotationChecksum: kube.Checksum(pulumi.StringMap{
				"kibana": pulumi.ToSecret(b.args.KibanaSystemPassword).(pulumi.StringOutput),
			})},
		},
		Spec: spec,
	}
	meta := b.meta(partKibana)
	_, err = appsv1.NewDeployment(b.ctx, b.name+"-kibana", &appsv1.DeploymentArgs{
		Metadata: meta,
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(k.Replicas),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: selector},
			Template: template,
		},
		// After the setup Job: until it has set kibana_system's password, Kibana cannot log in.
	}, b.child, b.inNamespace, pulumi.DependsOn([]pulumi.Resource{setup}))
	if err != nil {
		return nil, fmt.Errorf("creating kibana deployment: %w", err)
	}
	if k.Replicas > 1 {
		// One replica at a time: log search stays up through a node drain. Kibana keeps no state, so
		// a crash-looping replica must not block the drain.
		if err := b.disruptionBudget("kibana-pdb", partKibana, "AlwaysAllow"); err != nil {
			return nil, err
		}
	}
	// kube.NewService proves the Service against the Deployment's pod template and skips the
	// provider's Service await (its fixed 10-second settle): the Deployment's await above already
	// returns only once Kibana's pods are Ready.
	// Its name is in the exported kibanaUrl: fixed, so a recovered cluster keeps it (kube.AddressName).
	service, err := kube.NewService(b.ctx, b.name+"-kibana", &corev1.ServiceArgs{
		Metadata: kube.AddressName(b.meta(partKibana), b.name+"-kibana"),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: selector,
			Ports: corev1.ServicePortArray{corev1.ServicePortArgs{
				Name: pulumi.String("http"), Port: pulumi.Int(kibanaPort), TargetPort: pulumi.String("http"),
			}},
		},
	}, kube.Backend{Namespace: meta.Namespace, Template: template}, b.child, b.inNamespace)
	if err != nil {
		return nil, fmt.Errorf("kibana: %w", err)
	}
	serviceName := service.Metadata.Name().Elem()
	if in := k.Ingress; in != nil {
		if err := b.kibanaIngress(in, serviceName); err != nil {
			return nil, err
		}
	}
	return &kibana{
		url:       pulumi.Sprintf("http://%s.%s.svc.%s:%d", serviceName, b.namespace, clusterDomain, kibanaPort),
		publicURL: publicURL,
	}, nil
}

func (b *builder) kibanaIngress(in *Ingress, serviceName pulumi.StringOutput) error {
	spec := &networkingv1.IngressSpecArgs{
		IngressClassName: pulumi.String(in.ClassName),
		Rules: networkingv1.IngressRuleArray{networkingv1.IngressRuleArgs{
			Host: pulumi.String(in.Host),
			Http: &networkingv1.HTTPIngressRuleValueArgs{Paths: networkingv1.HTTPIngressPathArray{networkingv1.HTTPIngressPathArgs{
				Path:     pulumi.String("/"),
				PathType: pulumi.String("Prefix"),
				Backend: networkingv1.IngressBackendArgs{Service: &networkingv1.IngressServiceBackendArgs{
					Name: serviceName,
					Port: &networkingv1.ServiceBackendPortArgs{Number: pulumi.Int(kibanaPort)},
				}},
			}}},
		}},
	}
	if in.TLSSecretName != "" {
		spec.Tls = networkingv1.IngressTLSArray{networkingv1.IngressTLSArgs{
			Hosts:      pulumi.StringArray{pulumi.String(in.Host)},
			SecretName: pulumi.String(in.TLSSecretName),
		}}
	}
	if _, err := networkingv1.NewIngress(b.ctx, b.name+"-kibana", &networkingv1.IngressArgs{Metadata: b.meta(partKibana), Spec: spec}, b.child, b.inNamespace); err != nil {
		return fmt.Errorf("creating kibana ingress: %w", err)
	}
	return nil
}
