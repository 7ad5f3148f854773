package logging

import (
	"encoding/json"
	"fmt"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Rollover starts a new backing index daily (or earlier at the size Elasticsearch recommends per
// shard), so deletion by age removes whole days; the newest day is kept up to a day longer.
const (
	rolloverMaxAge            = "1d"
	rolloverMaxPrimaryShardGB = 50
)

// Files of the setup ConfigMap, and the pod-template annotation that carries a checksum of what a pod
// reads at start, so a change re-runs the Job or restarts the pods.
const (
	fileILMPolicy       = "ilm-policy.json"
	fileIndexTemplate   = "index-template.json"
	fileSetupScript     = "setup.sh"
	AnnotationChecksum  = "checksum/config"
	setupDir            = "/setup"
	setupCertsDir       = "/certs"
	setupRetries        = 60
	setupRetryDelaySecs = 5
)

// ILMPolicy is the body of PUT _ilm/policy/<name>: roll over daily, delete retentionDays after rollover.
func ILMPolicy(retentionDays int) ([]byte, error) {
	if retentionDays < 1 {
		return nil, fmt.Errorf("retention must be at least 1 day, got %d", retentionDays)
	}
	policy := map[string]any{
		"policy": map[string]any{
			"_meta": map[string]any{"managed_by": "nexios-k8s", "retention_days": retentionDays},
			"phases": map[string]any{
				"hot": map[string]any{
					"min_age": "0ms",
					"actions": map[string]any{"rollover": map[string]any{
						"max_age":                rolloverMaxAge,
						"max_primary_shard_size": fmt.Sprintf("%dgb", rolloverMaxPrimaryShardGB),
					}},
				},
				"delete": map[string]any{
					"min_age": fmt.Sprintf("%dd", retentionDays),
					"actions": map[string]any{"delete": map[string]any{}},
				},
			},
		},
	}
	return json.MarshalIndent(policy, "", "  ")
}

// IndexTemplate is the body of PUT _index_template/<dataStream>: it makes dataStream a data stream
// whose backing indices follow the ILM policy of the same name. A single node cannot hold a replica,
// so replicas are 0 there and 1 otherwise.
func IndexTemplate(dataStream string, esReplicas int) ([]byte, error) {
	if dataStream == "" {
		return nil, fmt.Errorf("the data stream name is empty")
	}
	replicas := 1
	if esReplicas == 1 {
		replicas = 0
	}
	template := map[string]any{
		"index_patterns": []string{dataStream + "*"},
		"data_stream":    map[string]any{},
		// Above the built-in logs-*-* template (100), should someone name a stream that way.
		"priority": 500,
		"_meta":    map[string]any{"managed_by": "nexios-k8s"},
		"template": map[string]any{
			"settings": map[string]any{
				"index.lifecycle.name":     dataStream,
				"index.number_of_shards":   1,
				"index.number_of_replicas": replicas,
			},
			"mappings": map[string]any{
				"properties": map[string]any{
					"@timestamp": map[string]any{"type": "date"},
					"kubernetes": map[string]any{"properties": map[string]any{
						"namespace_name": map[string]any{"type": "keyword"},
						"pod_name":       map[string]any{"type": "keyword"},
						"container_name": map[string]any{"type": "keyword"},
					}},
				},
			},
		},
	}
	return json.MarshalIndent(template, "", "  ")
}

// setupScript applies the policy and template, sets kibana_system's password, disables the `elastic`
// user (nothing uses it, and a cluster created before AdminUser existed still knows its password) and
// creates Fluent Bit's writer (and, for Grafana, the reader) user, each request logged in as AdminUser
// and retried until Elasticsearch answers. Every request is idempotent, so a re-run converges to the
// same state. Credentials reach curl through a
// config file on a memory volume or on stdin, never its command line.
func setupScript(dataStream string, grafana bool) string {
	script := fmt.Sprintf(`set -eu
umask 077
printf 'user = "%[8]s:%%s"\n' "$%[9]s" > /tmp/auth
request() {
  curl --silent --show-error --fail-with-body --max-time 30 \
    --retry %[2]d --retry-delay %[3]d --retry-all-errors \
    --cacert %[4]s/ca.crt -K /tmp/auth -H 'Content-Type: application/json' \
    -X "$1" "$ES_URL$2" --data-binary "$3"
  echo
}
request PUT '/_ilm/policy/%[1]s' @%[5]s/%[6]s
request PUT '/_index_template/%[1]s' @%[5]s/%[7]s
printf '{"password":"%%s"}' "$KIBANA_SYSTEM_PASSWORD" | request POST /_security/user/kibana_system/_password @-
request PUT /_security/user/elastic/_disable ''
`, dataStream, setupRetries, setupRetryDelaySecs, setupCertsDir, setupDir, fileILMPolicy, fileIndexTemplate, AdminUser, envAdminPassword)
	script += userScript(UserFluentBitWriter, roleLogsWriter, fileWriterRole, envFluentBitWriterPassword)
	if grafana {
		script += userScript(UserGrafanaReader, roleLogsReader, fileReaderRole, envGrafanaReaderPassword)
	}
	return script
}

// The setup Job's environment variables holding the new users' passwords.
const (
	envFluentBitWriterPassword = "FLUENT_BIT_WRITER_PASSWORD"
	envGrafanaReaderPassword   = "GRAFANA_READER_PASSWORD"
)

// setupJob applies the index lifecycle, Kibana's password and the clients' users. A Job's pod template is immutable, so
// the provider replaces the Job whenever the template changes; the checksum annotation over the
// policy, template, script and passwords makes every such change a template change, and the
// generated name lets the new Job be created before the old one is deleted. No
// ttlSecondsAfterFinished: a Job that deleted itself would read as drift on the next refresh.
func (b *builder) setupJob(creds *credentials, es *elasticsearch) (*batchv1.Job, error) {
	policy, err := ILMPolicy(b.args.RetentionDays)
	if err != nil {
		return nil, err
	}
	template, err := IndexTemplate(b.args.DataStream, b.args.Elasticsearch.Replicas)
	if err != nil {
		return nil, err
	}
	writerRole, err := WriterRole(b.args.DataStream)
	if err != nil {
		return nil, err
	}
	grafana := b.args.Grafana != nil
	data := pulumi.StringMap{
		fileILMPolicy:     pulumi.String(policy),
		fileIndexTemplate: pulumi.String(template),
		fileWriterRole:    pulumi.String(writerRole),
		fileSetupScript:   pulumi.String(setupScript(b.args.DataStream, grafana) + snapshotScript(b.args.DataStream, b.args.Snapshots != nil)),
	}
	if s := b.args.Snapshots; s != nil {
		repository, err := SnapshotRepository()
		if err != nil {
			return nil, err
		}
		snapshotPolicy, err := SnapshotPolicy(b.args.DataStream, *s)
		if err != nil {
			return nil, err
		}
		data[fileSnapshotRepo] = pulumi.String(repository)
		data[fileSnapshotPolicy] = pulumi.String(snapshotPolicy)
	}
	passwords := pulumi.StringMap{
		// A new admin password re-runs the Job, once the nodes have restarted with it.
		"admin":  pulumi.ToSecret(b.args.AdminPassword).(pulumi.StringOutput),
		"kibana": pulumi.ToSecret(b.args.KibanaSystemPassword).(pulumi.StringOutput),
		"writer": pulumi.ToSecret(b.args.FluentBitWriterPassword).(pulumi.StringOutput),
	}
	if grafana {
		readerRole, err := ReaderRole(b.args.DataStream)
		if err != nil {
			return nil, err
		}
		data[fileReaderRole] = pulumi.String(readerRole)
		passwords["reader"] = pulumi.ToSecret(b.args.Grafana.Password).(pulumi.StringOutput)
	}
	cm, err := corev1.NewConfigMap(b.ctx, b.name+"-setup", &corev1.ConfigMapArgs{
		Metadata: b.meta(partSetup),
		Data:     data,
	}, b.child, b.inNamespace)
	if err != nil {
		return nil, fmt.Errorf("creating setup config map: %w", err)
	}
	checksum := kube.Checksum(data, passwords)
	fromSecret := func(name, key string) corev1.EnvVarArgs {
		return corev1.EnvVarArgs{Name: pulumi.String(name), ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: creds.secret.Metadata.Name(), Key: pulumi.String(key)},
		}}
	}
	env := corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String("ES_URL"), Value: es.url},
		fromSecret(envAdminPassword, SecretKeyAdminPassword),
		fromSecret("KIBANA_SYSTEM_PASSWORD", SecretKeyKibanaPassword),
		fromSecret(envFluentBitWriterPassword, SecretKeyFluentBitWriterPassword),
	}
	if grafana {
		env = append(env, fromSecret(envGrafanaReaderPassword, SecretKeyGrafanaReaderPassword))
	}
	container := corev1.ContainerArgs{
		Name:            pulumi.String("setup"),
		Image:           pulumi.String(SetupImage),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Command:         pulumi.StringArray{pulumi.String("sh"), pulumi.String(setupDir + "/" + fileSetupScript)},
		Env:             env,
		Resources:       initResources.Args(),
		SecurityContext: kube.RestrictedContainerSecurityContext(),
		VolumeMounts: corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String("setup"), MountPath: pulumi.String(setupDir), ReadOnly: pulumi.Bool(true)},
			corev1.VolumeMountArgs{Name: pulumi.String("certs"), MountPath: pulumi.String(setupCertsDir), ReadOnly: pulumi.Bool(true)},
			corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
		},
	}
	job, err := batchv1.NewJob(b.ctx, b.name+"-setup", &batchv1.JobArgs{
		Metadata: b.meta(partSetup),
		Spec: &batchv1.JobSpecArgs{
			// Each attempt already retries for minutes; a few attempts cover a node lost mid-run.
			BackoffLimit: pulumi.Int(4),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Labels:      kube.StringMap(b.labels(partSetup)),
					Annotations: pulumi.StringMap{AnnotationChecksum: checksum},
				},
				Spec: &corev1.PodSpecArgs{
					RestartPolicy:                pulumi.String("Never"),
					AutomountServiceAccountToken: pulumi.Bool(false),
					SecurityContext:              kube.RestrictedPodSecurityContext(),
					Containers:                   corev1.ContainerArray{container},
					Volumes: corev1.VolumeArray{
						corev1.VolumeArgs{Name: pulumi.String("setup"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: cm.Metadata.Name()}},
						b.caVolume(creds.secret, "certs"),
						// Memory-backed: the curl config with the password never touches a disk.
						corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{
							Medium: pulumi.String("Memory"), SizeLimit: pulumi.String("1Mi"),
						}},
					},
				},
			},
		},
	}, b.child, b.inNamespace, pulumi.DependsOn([]pulumi.Resource{es.statefulSet}))
	if err != nil {
		return nil, fmt.Errorf("creating setup job: %w", err)
	}
	return job, nil
}

// caVolume mounts only the CA certificate of a credentials Secret (the stack's, or Fluent Bit's copy
// in its own namespace): clients never see the passwords as files.
func (b *builder) caVolume(secret *corev1.Secret, name string) corev1.VolumeArgs {
	return corev1.VolumeArgs{Name: pulumi.String(name), Secret: &corev1.SecretVolumeSourceArgs{
		SecretName: secret.Metadata.Name(),
		Items:      corev1.KeyToPathArray{corev1.KeyToPathArgs{Key: pulumi.String(SecretKeyCA), Path: pulumi.String(SecretKeyCA)}},
	}}
}
