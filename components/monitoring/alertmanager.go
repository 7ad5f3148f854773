package monitoring

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// AlertmanagerSettings are the plain values the Alertmanager configuration is generated from. The URLs
// are secrets: the rendered file only ever goes into a Kubernetes Secret.
type AlertmanagerSettings struct {
	WebhookURL      string
	SlackWebhookURL string
}

type amConfig struct {
	Route        amRoute      `yaml:"route"`
	InhibitRules []amInhibit  `yaml:"inhibit_rules"`
	Receivers    []amReceiver `yaml:"receivers"`
}

type amRoute struct {
	Receiver       string    `yaml:"receiver"`
	GroupBy        []string  `yaml:"group_by,flow,omitempty"`
	GroupWait      string    `yaml:"group_wait,omitempty"`
	GroupInterval  string    `yaml:"group_interval,omitempty"`
	RepeatInterval string    `yaml:"repeat_interval,omitempty"`
	Matchers       []string  `yaml:"matchers,omitempty"`
	Routes         []amRoute `yaml:"routes,omitempty"`
}

type amInhibit struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal,flow"`
}

type amReceiver struct {
	Name           string      `yaml:"name"`
	WebhookConfigs []amWebhook `yaml:"webhook_configs,omitempty"`
	SlackConfigs   []amSlack   `yaml:"slack_configs,omitempty"`
}

type amWebhook struct {
	URL          string `yaml:"url"`
	SendResolved bool   `yaml:"send_resolved"`
}

type amSlack struct {
	APIURL       string `yaml:"api_url"`
	SendResolved bool   `yaml:"send_resolved"`
	Title        string `yaml:"title"`
	Text         string `yaml:"text"`
}

// receiverName is the one receiver: every configured integration gets every alert, critical ones
// repeated sooner. With no URL configured the receiver is empty and alerts show only in the UI.
const receiverName = "nexios"

// AlertmanagerConfig renders alertmanager.yaml: grouping by alert and namespace, critical alerts
// repeated hourly, and critical inhibiting warning for the same alertname and namespace.
func AlertmanagerConfig(s AlertmanagerSettings) (string, error) {
	receiver := amReceiver{Name: receiverName}
	if s.WebhookURL != "" {
		receiver.WebhookConfigs = []amWebhook{{URL: s.WebhookURL, SendResolved: true}}
	}
	if s.SlackWebhookURL != "" {
		receiver.SlackConfigs = []amSlack{{
			APIURL:       s.SlackWebhookURL,
			SendResolved: true,
			Title:        `[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }}) in {{ .CommonLabels.namespace }}`,
			Text:         "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\nRunbook: {{ .Annotations.runbook }} ({{ .Annotations.runbook_url }})\n{{ end }}",
		}}
	}
	cfg := amConfig{
		Route: amRoute{
			Receiver:       receiverName,
			GroupBy:        []string{"alertname", "namespace"},
			GroupWait:      "30s",
			GroupInterval:  "5m",
			RepeatInterval: "4h",
			Routes: []amRoute{{
				Receiver:       receiverName,
				Matchers:       []string{`severity="critical"`},
				GroupWait:      "10s",
				RepeatInterval: "1h",
			}},
		},
		InhibitRules: []amInhibit{{
			SourceMatchers: []string{`severity="critical"`},
			TargetMatchers: []string{`severity="warning"`},
			Equal:          []string{"alertname", "namespace"},
		}},
		Receivers: []amReceiver{receiver},
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("alertmanager config: %w", err)
	}
	return string(out), nil
}

const (
	alertmanagerConfigKey = "alertmanager.yaml"
	alertmanagerDataDir   = "/alertmanager"
)

// alertmanager deploys Alertmanager as a StatefulSet behind a headless Service, so replicas find
// each other by stable DNS names and gossip silences and notification state.
func (b *builder) alertmanager() error {
	a := b.args.Alertmanager
	secretInputs := []any{pulumi.String(""), pulumi.String("")}
	if a.WebhookURL != nil {
		secretInputs[0] = a.WebhookURL
	}
	if a.SlackWebhookURL != nil {
		secretInputs[1] = a.SlackWebhookURL
	}
	config := pulumi.All(secretInputs...).ApplyT(func(v []any) (string, error) {
		return AlertmanagerConfig(AlertmanagerSettings{WebhookURL: v[0].(string), SlackWebhookURL: v[1].(string)})
	}).(pulumi.StringOutput)
	// The file holds the receivers' URLs: it stays secret in the state and goes into a Secret.
	config = pulumi.ToSecret(config).(pulumi.StringOutput)
	data := pulumi.StringMap{alertmanagerConfigKey: config}
	secret, err := corev1.NewSecret(b.ctx, b.name+"-alertmanager-config", &corev1.SecretArgs{
		Metadata:   b.meta(nameAlertmanager),
		Type:       pulumi.String("Opaque"),
		StringData: data,
	}, b.child, b.inNamespace, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))
	if err != nil {
		return fmt.Errorf("creating alertmanager config secret: %w", err)
	}

	// The peers' own flags name this Service, so it exists before their pod template does: it is
	// proved against the template below, before the StatefulSet is registered.
	headless, err := kube.NewGoverningService(b.ctx, b.name+"-alertmanager-peers", &corev1.ServiceArgs{
		Metadata: b.meta(nameAlertmanager),
		Spec: &corev1.ServiceSpecArgs{
			ClusterIP: pulumi.String("None"),
			Selector:  kube.StringMap(b.selector(nameAlertmanager)),
			// Peers must find each other before they are Ready, or a cluster never forms.
			PublishNotReadyAddresses: pulumi.Bool(true),
			Ports: corev1.ServicePortArray{
				corev1.ServicePortArgs{Name: pulumi.String(portHTTP), Port: pulumi.Int(alertmanagerPort), TargetPort: pulumi.String(portHTTP), Protocol: pulumi.String("TCP")},
				corev1.ServicePortArgs{Name: pulumi.String(portMesh), Port: pulumi.Int(alertmanagerPeer), TargetPort: pulumi.String(portMesh), Protocol: pulumi.String("TCP")},
				corev1.ServicePortArgs{Name: pulumi.String(portMeshUDP), Port: pulumi.Int(alertmanagerPeer), TargetPort: pulumi.String(portMeshUDP), Protocol: pulumi.String("UDP")},
			},
		},
	}, b.child, b.inNamespace)
	if err != nil {
		return fmt.Errorf("alertmanager peer service: %w", err)
	}
	sa, err := b.serviceAccount(nameAlertmanager, false)
	if err != nil {
		return err
	}
	// A fixed StatefulSet name: the peer list in the pods' own arguments is made of their DNS names,
	// which an auto-generated name would only reveal after the pods exist.
	stsName := b.name + "-alertmanager"
	args := alertmanagerArgs(a.Replicas, stsName, headless.Metadata.Name().Elem(), b.namespace)

	probe := func(path string) kube.HTTPProbe {
		return kube.HTTPProbe{Path: path, PeriodSeconds: 10, TimeoutSeconds: 3, FailureThreshold: 6}
	}
	container := corev1.ContainerArgs{
		Name:  pulumi.String(nameAlertmanager),
		Image: pulumi.String(imageAlertmanager),
		Args:  args,
		Env: corev1.EnvVarArray{corev1.EnvVarArgs{
			Name:      pulumi.String("POD_IP"),
			ValueFrom: &corev1.EnvVarSourceArgs{FieldRef: &corev1.ObjectFieldSelectorArgs{FieldPath: pulumi.String("status.podIP")}},
		}},
		Ports: corev1.ContainerPortArray{
			corev1.ContainerPortArgs{Name: pulumi.String(portHTTP), ContainerPort: pulumi.Int(alertmanagerPort), Protocol: pulumi.String("TCP")},
			corev1.ContainerPortArgs{Name: pulumi.String(portMesh), ContainerPort: pulumi.Int(alertmanagerPeer), Protocol: pulumi.String("TCP")},
			corev1.ContainerPortArgs{Name: pulumi.String(portMeshUDP), ContainerPort: pulumi.Int(alertmanagerPeer), Protocol: pulumi.String("UDP")},
		},
		Resources:       a.Resources.WithEphemeralStorage(alertmanagerEphemeralStorage).Args(),
		LivenessProbe:   probe("/-/healthy").Args(portHTTP),
		ReadinessProbe:  probe("/-/ready").Args(portHTTP),
		SecurityContext: kube.RestrictedContainerSecurityContext(),
		VolumeMounts: corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String("/etc/alertmanager"), ReadOnly: pulumi.Bool(true)},
			corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String(alertmanagerDataDir)},
		},
	}
	template := b.podTemplate(nameAlertmanager, sa, false, kube.Checksum(data), &corev1.PodSpecArgs{
		Containers: corev1.ContainerArray{container},
		Volumes: corev1.VolumeArray{
			corev1.VolumeArgs{Name: pulumi.String("config"), Secret: &corev1.SecretVolumeSourceArgs{SecretName: secret.Metadata.Name()}},
			// Silences and the notification log are shared by gossip; a restarted replica catches up from its peers.
			corev1.VolumeArgs{Name: pulumi.String("data"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(alertmanagerDataSize)}},
		},
	})
	if err := headless.Check(b.backend(template)); err != nil {
		return fmt.Errorf("alertmanager peer service: %w", err)
	}
	_, err = appsv1.NewStatefulSet(b.ctx, b.name+"-alertmanager", &appsv1.StatefulSetArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(stsName), Namespace: b.namespace, Labels: kube.StringMap(b.labels(nameAlertmanager))},
		Spec: &appsv1.StatefulSetSpecArgs{
			Replicas:    pulumi.Int(a.Replicas),
			ServiceName: headless.Metadata.Name().Elem(),
			Selector:    &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(nameAlertmanager))},
			// Replicas are peers, not a sequence: start them together.
			PodManagementPolicy: pulumi.String("Parallel"),
			Template:            template,
		},
	}, b.child, b.inNamespace,
		// With a fixed name a replacement cannot be created beside the old StatefulSet.
		pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return fmt.Errorf("creating alertmanager: %w", err)
	}
	if a.Replicas > 1 {
		if err := b.disruptionBudget(nameAlertmanager); err != nil {
			return err
		}
	}
	return nil
}

// alertmanagerArgs are the container's flags. One replica turns clustering off; more list every
// peer by its StatefulSet DNS name.
func alertmanagerArgs(replicas int, statefulSet string, service, namespace pulumi.StringOutput) pulumi.StringArrayOutput {
	return pulumi.All(service, namespace).ApplyT(func(v []any) []string {
		args := []string{
			"--config.file=/etc/alertmanager/" + alertmanagerConfigKey,
			"--storage.path=" + alertmanagerDataDir,
			fmt.Sprintf("--web.listen-address=:%d", alertmanagerPort),
		}
		if replicas < 2 {
			return append(args, "--cluster.listen-address=")
		}
		args = append(args,
			fmt.Sprintf("--cluster.listen-address=0.0.0.0:%d", alertmanagerPeer),
			// Pod IPs outside private ranges make Alertmanager refuse to guess its advertise address.
			fmt.Sprintf("--cluster.advertise-address=$(POD_IP):%d", alertmanagerPeer),
		)
		for i := range replicas {
			args = append(args, fmt.Sprintf("--cluster.peer=%s-%d.%s.%s.svc:%d", statefulSet, i, v[0], v[1], alertmanagerPeer))
		}
		return args
	}).(pulumi.StringArrayOutput)
}
