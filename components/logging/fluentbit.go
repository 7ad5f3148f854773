package logging

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Fluent Bit's paths inside its container and its HTTP port.
const (
	fluentBitConfigDir  = "/fluent-bit/config"
	fluentBitConfigFile = "fluent-bit.yaml"
	fluentBitCertsDir   = "/fluent-bit/certs"
	fluentBitBufferDir  = "/buffer"
	fluentBitHTTPPort   = 2020
	// The tag prefix the kubernetes filter strips to find the pod, namespace and container in a
	// file name (/var/log/containers/<pod>_<namespace>_<container>-<id>.log).
	fluentBitTagPrefix = "kube.var.log.containers."
	// appLogKey holds the fields of the app's JSON lines, so they never clash with Fluent Bit's own
	// (kubernetes, stream, log).
	appLogKey = "app"
)

// FluentBitSettings are the values the Fluent Bit configuration depends on.
type FluentBitSettings struct {
	// DataStream is the Elasticsearch data stream written to.
	DataStream string
	// BufferLimit is storage.total_limit_size of the Elasticsearch output.
	BufferLimit string
}

// FluentBitConfig is Fluent Bit's YAML configuration (fluent-bit.yaml): the service section and one
// pipeline of inputs, filters and outputs. Field names are the keys Fluent Bit 4.0 documents.
type FluentBitConfig struct {
	Service  FluentBitService  `yaml:"service"`
	Pipeline FluentBitPipeline `yaml:"pipeline"`
}

// FluentBitService is the service section.
type FluentBitService struct {
	Flush       int    `yaml:"flush"`
	LogLevel    string `yaml:"log_level"`
	HTTPServer  string `yaml:"http_server"`
	HTTPListen  string `yaml:"http_listen"`
	HTTPPort    int    `yaml:"http_port"`
	HealthCheck string `yaml:"health_check"`
	// StoragePath enables filesystem buffering for inputs with storage.type filesystem.
	StoragePath            string `yaml:"storage.path"`
	StorageSync            string `yaml:"storage.sync"`
	StorageChecksum        string `yaml:"storage.checksum"`
	StorageMaxChunksUp     int    `yaml:"storage.max_chunks_up"`
	StorageBacklogMemLimit string `yaml:"storage.backlog.mem_limit"`
	StorageMetrics         string `yaml:"storage.metrics"`
}

// FluentBitPipeline is the pipeline section.
type FluentBitPipeline struct {
	Inputs  []TailInput        `yaml:"inputs"`
	Filters []KubernetesFilter `yaml:"filters"`
	Outputs []ESOutput         `yaml:"outputs"`
}

// TailInput is the tail input plugin.
type TailInput struct {
	Name            string `yaml:"name"`
	Tag             string `yaml:"tag"`
	Path            string `yaml:"path"`
	MultilineParser string `yaml:"multiline.parser"`
	DB              string `yaml:"db"`
	DBLocking       bool   `yaml:"db.locking"`
	SkipLongLines   string `yaml:"skip_long_lines"`
	RefreshInterval int    `yaml:"refresh_interval"`
	StorageType     string `yaml:"storage.type"`
}

// KubernetesFilter is the kubernetes filter plugin.
type KubernetesFilter struct {
	Name              string `yaml:"name"`
	Match             string `yaml:"match"`
	KubeTagPrefix     string `yaml:"kube_tag_prefix"`
	MergeLog          string `yaml:"merge_log"`
	MergeLogKey       string `yaml:"merge_log_key"`
	KeepLog           string `yaml:"keep_log"`
	K8sLoggingParser  string `yaml:"k8s-logging.parser"`
	K8sLoggingExclude string `yaml:"k8s-logging.exclude"`
	Labels            string `yaml:"labels"`
	Annotations       string `yaml:"annotations"`
}

// ESOutput is the es output plugin.
type ESOutput struct {
	Name                  string `yaml:"name"`
	Match                 string `yaml:"match"`
	Host                  string `yaml:"host"`
	Port                  int    `yaml:"port"`
	Index                 string `yaml:"index"`
	WriteOperation        string `yaml:"write_operation"`
	SuppressTypeName      string `yaml:"suppress_type_name"`
	ReplaceDots           string `yaml:"replace_dots"`
	HTTPUser              string `yaml:"http_user"`
	HTTPPasswd            string `yaml:"http_passwd"`
	TLS                   string `yaml:"tls"`
	TLSVerify             string `yaml:"tls.verify"`
	TLSCAFile             string `yaml:"tls.ca_file"`
	TraceError            string `yaml:"trace_error"`
	RetryLimit            string `yaml:"retry_limit"`
	StorageTotalLimitSize string `yaml:"storage.total_limit_size"`
}

// NewFluentBitConfig builds the configuration. The Elasticsearch host and password are environment
// references that Fluent Bit resolves at start, so the file holds no secret and no generated name.
func NewFluentBitConfig(s FluentBitSettings) FluentBitConfig {
	return FluentBitConfig{
		Service: FluentBitService{
			Flush:       1,
			LogLevel:    "info",
			HTTPServer:  "on",
			HTTPListen:  "0.0.0.0",
			HTTPPort:    fluentBitHTTPPort,
			HealthCheck: "on",
			StoragePath: fluentBitBufferDir + "/storage",
			// normal: a chunk reaches the disk on flush, not on every write; a node crash may lose
			// the last second, a Fluent Bit or Elasticsearch restart loses nothing.
			StorageSync:     "normal",
			StorageChecksum: "off",
			// At most 32 chunks (about 2 MB each) in memory, well inside the container's limit; the rest
			// waits on disk, which bounds memory during a long outage.
			StorageMaxChunksUp:     32,
			StorageBacklogMemLimit: "16M",
			StorageMetrics:         "on",
		},
		Pipeline: FluentBitPipeline{
			Inputs: []TailInput{{
				Name: "tail",
				Tag:  "kube.*",
				Path: "/var/log/containers/*.log",
				// Reassembles lines the runtime split, for both Docker's JSON and containerd's CRI format.
				MultilineParser: "docker, cri",
				// Positions survive restarts: a new pod resumes where the old one stopped.
				DB:              fluentBitBufferDir + "/tail.db",
				DBLocking:       true,
				SkipLongLines:   "on",
				RefreshInterval: 10,
				StorageType:     "filesystem",
			}},
			Filters: []KubernetesFilter{{
				Name:          "kubernetes",
				Match:         "kube.*",
				KubeTagPrefix: fluentBitTagPrefix,
				// The app logs JSON lines: merged as structured fields under appLogKey.
				MergeLog:    "on",
				MergeLogKey: appLogKey,
				KeepLog:     "off",
				// Pods may choose a parser or opt out with the fluentbit.io/* annotations.
				K8sLoggingParser:  "on",
				K8sLoggingExclude: "on",
				Labels:            "on",
				Annotations:       "off",
			}},
			Outputs: []ESOutput{{
				Name:  "es",
				Match: "kube.*",
				Host:  "${ES_HOST}",
				Port:  esHTTPPort,
				Index: s.DataStream,
				// Data streams accept only create.
				WriteOperation:   "create",
				SuppressTypeName: "on",
				// Label keys such as app.kubernetes.io/name would otherwise clash with objects.
				ReplaceDots: "on",
				// A user that may only append to the data stream, never the superuser.
				HTTPUser:   UserFluentBitWriter,
				HTTPPasswd: "${" + envFluentBitWriterPassword + "}",
				TLS:        "on",
				TLSVerify:  "on",
				TLSCAFile:  fluentBitCertsDir + "/" + SecretKeyCA,
				TraceError: "on",
				// Retry for as long as the disk buffer lasts: an outage delays logs instead of losing
				// them until storage.total_limit_size is reached, then the oldest chunks go.
				RetryLimit:            "no_limits",
				StorageTotalLimitSize: s.BufferLimit,
			}},
		},
	}
}

// YAML renders the configuration file.
func (c FluentBitConfig) YAML() (string, error) {
	out, err := yaml.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("rendering fluent-bit.yaml: %w", err)
	}
	return string(out), nil
}

// fluentBit runs the shipper on every node, in its own namespace. It starts after the setup Job, which
// creates its user: before that, every request would be refused and only fill the buffer.
func (b *builder) fluentBit(creds *credentials, es *elasticsearch, setup *batchv1.Job) error {
	config, err := NewFluentBitConfig(FluentBitSettings{DataStream: b.args.DataStream, BufferLimit: b.args.FluentBit.BufferLimit}).YAML()
	if err != nil {
		return err
	}
	data := pulumi.StringMap{fluentBitConfigFile: pulumi.String(config)}
	cm, err := corev1.NewConfigMap(b.ctx, b.name+"-fluent-bit", &corev1.ConfigMapArgs{Metadata: b.agentsMeta(partFluentBit), Data: data}, b.child, b.inAgentsNamespace)
	if err != nil {
		return fmt.Errorf("creating fluent bit config map: %w", err)
	}
	secret, err := b.fluentBitCredentials(creds)
	if err != nil {
		return err
	}
	sa, err := b.fluentBitIdentity()
	if err != nil {
		return err
	}

	hostPath := func(name, path, kind string) corev1.VolumeArgs {
		return corev1.VolumeArgs{Name: pulumi.String(name), HostPath: &corev1.HostPathVolumeSourceArgs{Path: pulumi.String(path), Type: pulumi.String(kind)}}
	}
	mount := func(name, path string, readOnly bool) corev1.VolumeMountArgs {
		return corev1.VolumeMountArgs{Name: pulumi.String(name), MountPath: pulumi.String(path), ReadOnly: pulumi.Bool(readOnly)}
	}
	// Liveness asks only whether the process serves its API (/api/v1/uptime). Readiness asks
	// /api/v1/health, which health_check fails while the Elasticsearch output keeps erroring: an
	// Elasticsearch outage shows as an unready pod, whose logs wait in the disk buffer, and never
	// restarts it (which would only drop the chunks still in memory).
	liveness := kube.HTTPProbe{Path: "/api/v1/uptime", PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 6}
	readiness := kube.HTTPProbe{Path: "/api/v1/health", PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 3}
	container := corev1.ContainerArgs{
		Name:            pulumi.String("fluent-bit"),
		Image:           pulumi.String(FluentBitImage),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Command:         pulumi.StringArray{pulumi.String("/fluent-bit/bin/fluent-bit")},
		Args:            pulumi.StringArray{pulumi.String("--config=" + fluentBitConfigDir + "/" + fluentBitConfigFile)},
		Ports: corev1.ContainerPortArray{
			corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(fluentBitHTTPPort)},
		},
		Env: corev1.EnvVarArray{
			corev1.EnvVarArgs{Name: pulumi.String("ES_HOST"), Value: es.host},
			corev1.EnvVarArgs{Name: pulumi.String(envFluentBitWriterPassword), ValueFrom: &corev1.EnvVarSourceArgs{
				SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: secret.Metadata.Name(), Key: pulumi.String(SecretKeyFluentBitWriterPassword)},
			}},
		},
		Resources:      b.args.FluentBit.Resources.Args(),
		LivenessProbe:  liveness.Args("http"),
		ReadinessProbe: readiness.Args("http"),
		// Root, because container log files belong to root with mode 0640; no capabilities, no
		// escalation, nothing writable but the buffer.
		SecurityContext: &corev1.SecurityContextArgs{
			RunAsUser:                pulumi.Int(0),
			RunAsNonRoot:             pulumi.Bool(false),
			AllowPrivilegeEscalation: pulumi.Bool(false),
			ReadOnlyRootFilesystem:   pulumi.Bool(true),
			Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
			SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
		},
		VolumeMounts: corev1.VolumeMountArray{
			mount("varlog", "/var/log", true),
			mount("buffer", fluentBitBufferDir, false),
			mount("config", fluentBitConfigDir, true),
			mount("certs", fluentBitCertsDir, true),
		},
	}
	_, err = appsv1.NewDaemonSet(b.ctx, b.name+"-fluent-bit", &appsv1.DaemonSetArgs{
		Metadata: b.agentsMeta(partFluentBit),
		Spec: &appsv1.DaemonSetSpecArgs{
			Selector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(partFluentBit))},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Labels: kube.StringMap(b.labels(partFluentBit)),
					// A new configuration or password restarts the pods; Fluent Bit does not reload on its own.
					Annotations: pulumi.StringMap{AnnotationChecksum: kube.Checksum(data, pulumi.StringMap{
						"writer": pulumi.ToSecret(b.args.FluentBitWriterPassword).(pulumi.StringOutput),
					})},
				},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName: sa.Metadata.Name(),
					// The kubernetes filter reads pod metadata from the API.
					AutomountServiceAccountToken: pulumi.Bool(true),
					// Every node, tainted or not, has logs: control-plane and dedicated nodes included.
					Tolerations: corev1.TolerationArray{corev1.TolerationArgs{Operator: pulumi.String("Exists")}},
					SecurityContext: &corev1.PodSecurityContextArgs{
						SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
					},
					// Time to flush what is in memory to the disk buffer.
					TerminationGracePeriodSeconds: pulumi.Int(30),
					Containers:                    corev1.ContainerArray{container},
					Volumes: corev1.VolumeArray{
						hostPath("varlog", "/var/log", "Directory"),
						hostPath("buffer", b.args.FluentBit.HostBufferPath, "DirectoryOrCreate"),
						corev1.VolumeArgs{Name: pulumi.String("config"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: cm.Metadata.Name()}},
						b.caVolume(secret, "certs"),
					},
				},
			},
		},
	}, b.child, b.inAgentsNamespace, pulumi.DependsOn([]pulumi.Resource{setup}),
		// Two Fluent Bits on one node would share the buffer directory and the tail positions, whose
		// database the first one locks: a replacement (a move to another namespace, a new selector)
		// stops the old pods first. The node's log files wait meanwhile; the positions resume them.
		pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return fmt.Errorf("creating fluent bit daemonset: %w", err)
	}
	return nil
}

// fluentBitCredentials copies what Fluent Bit reads of the credentials Secret, its writer password and
// the CA certificate, into its own namespace: a pod reads Secrets of its namespace only, and the
// other users' passwords stay where Fluent Bit cannot reach them.
func (b *builder) fluentBitCredentials(creds *credentials) (*corev1.Secret, error) {
	secret, err := corev1.NewSecret(b.ctx, b.name+"-fluent-bit-credentials", &corev1.SecretArgs{
		Metadata: b.agentsMeta(partFluentBit),
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			SecretKeyFluentBitWriterPassword: pulumi.ToSecret(b.args.FluentBitWriterPassword).(pulumi.StringOutput),
			SecretKeyCA:                      pulumi.ToSecret(creds.ca).(pulumi.StringOutput),
		},
	}, b.child, b.inAgentsNamespace, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))
	if err != nil {
		return nil, fmt.Errorf("creating fluent bit credentials secret: %w", err)
	}
	return secret, nil
}

// fluentBitIdentity is a ServiceAccount that may only read pods and namespaces, which is all the
// kubernetes filter looks up.
func (b *builder) fluentBitIdentity() (*corev1.ServiceAccount, error) {
	sa, err := corev1.NewServiceAccount(b.ctx, b.name+"-fluent-bit", &corev1.ServiceAccountArgs{Metadata: b.agentsMeta(partFluentBit)}, b.child, b.inAgentsNamespace)
	if err != nil {
		return nil, fmt.Errorf("creating fluent bit service account: %w", err)
	}
	role, err := rbacv1.NewClusterRole(b.ctx, b.name+"-fluent-bit", &rbacv1.ClusterRoleArgs{
		Metadata: &metav1.ObjectMetaArgs{Labels: kube.StringMap(b.labels(partFluentBit))},
		Rules: rbacv1.PolicyRuleArray{rbacv1.PolicyRuleArgs{
			ApiGroups: pulumi.StringArray{pulumi.String("")},
			Resources: pulumi.StringArray{pulumi.String("pods"), pulumi.String("namespaces")},
			Verbs:     pulumi.StringArray{pulumi.String("get"), pulumi.String("list"), pulumi.String("watch")},
		}},
	}, b.child)
	if err != nil {
		return nil, fmt.Errorf("creating fluent bit cluster role: %w", err)
	}
	_, err = rbacv1.NewClusterRoleBinding(b.ctx, b.name+"-fluent-bit", &rbacv1.ClusterRoleBindingArgs{
		Metadata: &metav1.ObjectMetaArgs{Labels: kube.StringMap(b.labels(partFluentBit))},
		RoleRef: rbacv1.RoleRefArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"),
			Kind:     pulumi.String("ClusterRole"),
			Name:     role.Metadata.Name().Elem(),
		},
		Subjects: rbacv1.SubjectArray{rbacv1.SubjectArgs{
			Kind:      pulumi.String("ServiceAccount"),
			Name:      sa.Metadata.Name().Elem(),
			Namespace: b.agentsNamespace,
		}},
	}, b.child)
	if err != nil {
		return nil, fmt.Errorf("creating fluent bit cluster role binding: %w", err)
	}
	return sa, nil
}
