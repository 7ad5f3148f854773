package logging

import (
	"fmt"
	"strings"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Keys of the credentials Secret, which every client of Elasticsearch reads.
const (
	SecretKeyAdminPassword  = "admin-password"
	SecretKeyKibanaPassword = "kibana-system-password"
	SecretKeyCA             = "ca.crt"
)

// AdminUser is the superuser that the setup Job and the readiness probe log in as. It lives in
// Elasticsearch's file realm, which 8.x enables next to the native realm when no realm is configured:
// the files are read at every start, so a rotated password takes effect with the pods' restart. The
// built-in `elastic` user cannot do that, since Elasticsearch reads ELASTIC_PASSWORD only when it
// creates its security index on the very first start.
const AdminUser = "nexios_admin"

// The file realm's files, in the file-realm Secret and in Elasticsearch's config directory.
const (
	fileRealmUsers      = "users"
	fileRealmUsersRoles = "users_roles"
	// envAdminPassword holds AdminUser's password in the Elasticsearch and setup containers. Not
	// ELASTIC_PASSWORD: the image would take that for the `elastic` user's bootstrap password.
	envAdminPassword = "ADMIN_PASSWORD"
)

// Elasticsearch's ports, paths and user.
const (
	esHTTPPort      = 9200
	esTransportPort = 9300
	esUID           = 1000
	esHome          = "/usr/share/elasticsearch"
	esCertsDir      = esHome + "/config/certs"
	esCAFile        = esCertsDir + "/" + SecretKeyCA
	// clusterDomain is the cluster's DNS suffix in the node certificate's names.
	clusterDomain = "cluster.local"
	// The JVM heap is half the container's memory: Lucene lives off-heap on the file cache. Above
	// 31 GiB the JVM loses compressed object pointers and a bigger heap holds less.
	maxHeapMiB = 31 * 1024
	// Below this heap Elasticsearch starts but trips its circuit breakers on the first real search.
	minHeapMiB = 256
)

// HeapSize returns the JVM heap, in MiB, for a container memory limit: half of it, capped at 31 GiB.
func HeapSize(memoryLimit string) (int, error) {
	bytes, err := kube.ParseQuantity(memoryLimit)
	if err != nil {
		return 0, err
	}
	heap := min(int(bytes/2/(1<<20)), maxHeapMiB)
	if heap < minHeapMiB {
		return 0, fmt.Errorf("%s leaves a %d MiB heap; Elasticsearch needs a limit of at least %d Mi", memoryLimit, heap, 2*minHeapMiB)
	}
	return heap, nil
}

// JavaOpts is ES_JAVA_OPTS for a heap: the same minimum and maximum, so the heap never resizes.
func JavaOpts(heapMiB int) string {
	return fmt.Sprintf("-Xms%dm -Xmx%dm", heapMiB, heapMiB)
}

// credentials is the Secret every client of Elasticsearch in this namespace reads: passwords and the
// CA certificate. ca is the certificate itself, for clients elsewhere.
type credentials struct {
	secret *corev1.Secret
	name   pulumi.StringOutput
	ca     pulumi.StringOutput
}

func (b *builder) credentials() (*credentials, error) {
	// The certificate is public; it only reads as secret because the seed it comes from is.
	ca := pulumi.Unsecret(b.args.CASeed.ToStringOutput().ApplyT(caCertificate)).(pulumi.StringOutput)
	data := pulumi.StringMap{
		SecretKeyAdminPassword:           pulumi.ToSecret(b.args.AdminPassword).(pulumi.StringOutput),
		SecretKeyKibanaPassword:          pulumi.ToSecret(b.args.KibanaSystemPassword).(pulumi.StringOutput),
		SecretKeyFluentBitWriterPassword: pulumi.ToSecret(b.args.FluentBitWriterPassword).(pulumi.StringOutput),
		SecretKeyCA:                      pulumi.ToSecret(ca).(pulumi.StringOutput),
	}
	if g := b.args.Grafana; g != nil {
		// Only the setup Job reads it here; Grafana gets its own copy in its namespace.
		data[SecretKeyGrafanaReaderPassword] = pulumi.ToSecret(g.Password).(pulumi.StringOutput)
	}
	secret, err := corev1.NewSecret(b.ctx, b.name+"-credentials", &corev1.SecretArgs{
		Metadata:   b.meta(partElasticsearch),
		Type:       pulumi.String("Opaque"),
		StringData: data,
	}, b.child, b.inNamespace, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))
	if err != nil {
		return nil, fmt.Errorf("creating credentials secret: %w", err)
	}
	return &credentials{secret: secret, name: secret.Metadata.Name().Elem(), ca: ca}, nil
}

// fileRealm is the Secret holding the file realm's users (AdminUser with the bcrypt hash of its
// password, never the password) and roles (AdminUser is a superuser), and its data for the pods'
// checksum.
type fileRealm struct {
	secret *corev1.Secret
	data   pulumi.StringMapOutput
}

func (b *builder) fileRealm() (*fileRealm, error) {
	hash := pulumi.ToSecret(b.args.AdminPasswordHash).(pulumi.StringOutput)
	data := pulumi.ToSecret(pulumi.StringMap{
		fileRealmUsers:      pulumi.Sprintf("%s:%s\n", AdminUser, hash),
		fileRealmUsersRoles: pulumi.String("superuser:" + AdminUser + "\n"),
	}.ToStringMapOutput()).(pulumi.StringMapOutput)
	secret, err := corev1.NewSecret(b.ctx, b.name+"-es-file-realm", &corev1.SecretArgs{
		Metadata:   b.meta(partElasticsearch),
		Type:       pulumi.String("Opaque"),
		StringData: data,
	}, b.child, b.inNamespace, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))
	if err != nil {
		return nil, fmt.Errorf("creating elasticsearch file realm secret: %w", err)
	}
	return &fileRealm{secret: secret, data: data}, nil
}

// elasticsearch is what the other parts need to reach the cluster.
type elasticsearch struct {
	statefulSet *appsv1.StatefulSet
	clientName  pulumi.StringOutput
	// host is the client Service's in-cluster DNS name, which the node certificate covers.
	host pulumi.StringOutput
	url  pulumi.StringOutput
}

func (b *builder) elasticsearch(creds *credentials) (*elasticsearch, error) {
	es := b.args.Elasticsearch
	heap, err := HeapSize(es.Resources.Limits.Memory)
	if err != nil {
		return nil, err
	}
	selector := kube.StringMap(b.selector(partElasticsearch))
	ports := corev1.ServicePortArray{
		corev1.ServicePortArgs{Name: pulumi.String("https"), Port: pulumi.Int(esHTTPPort), TargetPort: pulumi.String("https")},
		corev1.ServicePortArgs{Name: pulumi.String("transport"), Port: pulumi.Int(esTransportPort), TargetPort: pulumi.String("transport")},
	}
	// Discovery needs every node's address before any is Ready: a new cluster elects its master
	// first, and only then does a node's health check pass. The nodes' settings and certificate name
	// this Service, so it exists before their pod template does: it is proved against the template
	// below, before the StatefulSet is registered.
	headless, err := kube.NewGoverningService(b.ctx, b.name+"-es-discovery", &corev1.ServiceArgs{
		Metadata: b.meta(partElasticsearch),
		Spec: &corev1.ServiceSpecArgs{
			ClusterIP:                pulumi.String("None"),
			PublishNotReadyAddresses: pulumi.Bool(true),
			Selector:                 selector,
			Ports:                    ports,
		},
	}, b.child, b.inNamespace)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch discovery service: %w", err)
	}
	headlessName := headless.Metadata.Name().Elem()
	tls, err := b.nodeTLS(headlessName)
	if err != nil {
		return nil, err
	}

	realm, err := b.fileRealm()
	if err != nil {
		return nil, err
	}

	var snapshots pulumi.StringInput
	if b.args.Snapshots != nil {
		claim, err := b.snapshotClaim()
		if err != nil {
			return nil, err
		}
		snapshots = claim.Metadata.Name().Elem()
	}
	podSpec, err := b.esPodSpec(creds, tls, realm, headlessName, heap, snapshots)
	if err != nil {
		return nil, err
	}
	template := &corev1.PodTemplateSpecArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Labels: kube.StringMap(b.labels(partElasticsearch)),
			// The file realm is read at start (a subPath mount never sees the Secret change):
			// a new admin password restarts the nodes, one at a time.
			Annotations: pulumi.StringMap{AnnotationChecksum: kube.Checksum(realm.data)},
		},
		Spec: podSpec,
	}
	meta := b.esMeta()
	backend := kube.Backend{Namespace: meta.Namespace, Template: template}
	if err := headless.Check(backend); err != nil {
		return nil, fmt.Errorf("elasticsearch discovery service: %w", err)
	}
	// Clients' Service: kube.NewService proves it against the template and skips the provider's
	// Service await (its fixed 10-second settle); the StatefulSet's await below still waits for every
	// node to be Ready.
	// Its name is in the exported elasticsearchUrl: fixed, so a recovered cluster keeps it
	// (kube.AddressName).
	client, err := kube.NewService(b.ctx, b.name+"-es", &corev1.ServiceArgs{
		Metadata: kube.AddressName(b.meta(partElasticsearch), b.name+"-es"),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: selector,
			Ports:    ports[:1],
		},
	}, backend, b.child, b.inNamespace)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client service: %w", err)
	}
	sts, err := appsv1.NewStatefulSet(b.ctx, b.name+"-es", &appsv1.StatefulSetArgs{
		Metadata: meta,
		Spec: &appsv1.StatefulSetSpecArgs{
			ServiceName: headlessName,
			Replicas:    pulumi.Int(es.Replicas),
			Selector:    &metav1.LabelSelectorArgs{MatchLabels: selector},
			// Parallel: with OrderedReady the second node would wait for the first to be Ready, which
			// needs an elected master, which needs the second node.
			PodManagementPolicy:  pulumi.String("Parallel"),
			UpdateStrategy:       &appsv1.StatefulSetUpdateStrategyArgs{Type: pulumi.String("RollingUpdate")},
			Template:             template,
			VolumeClaimTemplates: b.esVolumeClaims(),
		},
	}, b.child, b.inNamespace)
	if err != nil {
		return nil, fmt.Errorf("creating elasticsearch statefulset: %w", err)
	}
	if es.Replicas > 1 {
		// One node at a time keeps a master quorum and, with one replica per shard, every shard. An
		// unhealthy node is evicted only while the others are healthy: it may be the one catching up.
		if err := b.disruptionBudget("es-pdb", partElasticsearch, ""); err != nil {
			return nil, err
		}
	}
	clientName := client.Metadata.Name().Elem()
	host := pulumi.Sprintf("%s.%s.svc.%s", clientName, b.namespace, clusterDomain)
	return &elasticsearch{
		statefulSet: sts,
		clientName:  clientName,
		host:        host,
		url:         pulumi.Sprintf("https://%s:%d", host, esHTTPPort),
	}, nil
}

// esStatefulSetName is the StatefulSet's fixed name. It is fixed because the cluster's bootstrap
// settings (cluster.initial_master_nodes) list its pods by name before any of them exists.
func (b *builder) esStatefulSetName() string { return b.name + "-es" }

func (b *builder) esMeta() *metav1.ObjectMetaArgs {
	m := b.meta(partElasticsearch)
	m.Name = pulumi.String(b.esStatefulSetName())
	return m
}

// nodeTLS holds the node certificate, valid for every pod's discovery name and every Service of the
// namespace (the client Service's name is generated).
func (b *builder) nodeTLS(headlessName pulumi.StringOutput) (*corev1.Secret, error) {
	data := pulumi.All(b.args.CASeed, headlessName, b.namespace).ApplyT(func(v []any) (map[string]string, error) {
		seed, headless, ns := v[0].(string), v[1].(string), v[2].(string)
		certs, err := nodeCertificates(seed, []string{
			"*." + headless + "." + ns + ".svc." + clusterDomain,
			"*." + headless + "." + ns + ".svc",
			"*." + ns + ".svc." + clusterDomain,
			"*." + ns + ".svc",
			"localhost",
		})
		if err != nil {
			return nil, err
		}
		return map[string]string{SecretKeyCA: certs.CA, "tls.crt": certs.Cert, "tls.key": certs.Key}, nil
	}).(pulumi.StringMapOutput)
	secret, err := corev1.NewSecret(b.ctx, b.name+"-es-tls", &corev1.SecretArgs{
		Metadata:   b.meta(partElasticsearch),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.ToSecret(data).(pulumi.StringMapOutput),
	}, b.child, b.inNamespace, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))
	if err != nil {
		return nil, fmt.Errorf("creating elasticsearch certificate secret: %w", err)
	}
	return secret, nil
}

func (b *builder) esVolumeClaims() corev1.PersistentVolumeClaimTypeArray {
	es := b.args.Elasticsearch
	if es.Ephemeral {
		return nil
	}
	spec := &corev1.PersistentVolumeClaimSpecArgs{
		AccessModes: pulumi.StringArray{pulumi.String("ReadWriteOnce")},
		Resources:   &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String(es.StorageSize)}},
	}
	if es.StorageClass != "" {
		spec.StorageClassName = pulumi.String(es.StorageClass)
	}
	return corev1.PersistentVolumeClaimTypeArray{corev1.PersistentVolumeClaimTypeArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("data"), Labels: kube.StringMap(b.labels(partElasticsearch))},
		Spec:     spec,
	}}
}

// esSettings are Elasticsearch settings as the official image reads them from the environment.
func (b *builder) esSettings(headlessName pulumi.StringOutput, heap int) corev1.EnvVarArray {
	es := b.args.Elasticsearch
	env := func(name string, value pulumi.StringInput) corev1.EnvVarArgs {
		return corev1.EnvVarArgs{Name: pulumi.String(name), Value: value}
	}
	vars := corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String("node.name"), ValueFrom: &corev1.EnvVarSourceArgs{
			FieldRef: &corev1.ObjectFieldSelectorArgs{FieldPath: pulumi.String("metadata.name")},
		}},
		env("cluster.name", pulumi.String(b.name)),
		env("network.host", pulumi.String("0.0.0.0")),
		// Every node holds data, can be master and runs ingest pipelines: a small cluster has no
		// room for dedicated roles.
		env("node.roles", pulumi.String("master,data,ingest")),
		// Without mmap Elasticsearch skips its vm.max_map_count bootstrap check, so no privileged
		// sysctl init container is needed; niofs costs some search speed on large indices.
		env("node.store.allow_mmap", pulumi.String("false")),
		env("ES_JAVA_OPTS", pulumi.String(JavaOpts(heap))),
		env("xpack.security.enabled", pulumi.String("true")),
		env("xpack.security.transport.ssl.enabled", pulumi.String("true")),
		// Nodes check that a peer's certificate comes from the CA, not its hostname: pods connect by IP.
		env("xpack.security.transport.ssl.verification_mode", pulumi.String("certificate")),
		env("xpack.security.transport.ssl.key", pulumi.String(esCertsDir+"/tls.key")),
		env("xpack.security.transport.ssl.certificate", pulumi.String(esCertsDir+"/tls.crt")),
		env("xpack.security.transport.ssl.certificate_authorities", pulumi.String(esCAFile)),
		env("xpack.security.http.ssl.enabled", pulumi.String("true")),
		env("xpack.security.http.ssl.key", pulumi.String(esCertsDir+"/tls.key")),
		env("xpack.security.http.ssl.certificate", pulumi.String(esCertsDir+"/tls.crt")),
		env("xpack.security.http.ssl.certificate_authorities", pulumi.String(esCAFile)),
	}
	if es.Replicas == 1 {
		// One node elects itself and never looks for peers.
		return append(vars, env("discovery.type", pulumi.String("single-node")))
	}
	masters := make([]string, es.Replicas)
	for i := range masters {
		masters[i] = fmt.Sprintf("%s-%d", b.esStatefulSetName(), i)
	}
	return append(vars,
		env("discovery.seed_hosts", headlessName),
		// Read only when the cluster forms for the first time; afterwards the cluster state decides.
		env("cluster.initial_master_nodes", pulumi.String(strings.Join(masters, ","))),
	)
}

// healthCheck asks the node for the cluster's health, with the password passed through a curl
// config on stdin so it never appears in a process list.
const healthCheck = `printf 'user = "` + AdminUser + `:%s"\n' "$` + envAdminPassword + `" | ` +
	`curl --silent --fail --max-time 4 --cacert ` + esCAFile + ` -K - ` +
	`'https://127.0.0.1:9200/_cluster/health?wait_for_status=yellow&timeout=2s' >/dev/null`

// esPodSpec is the nodes' pod template; snapshotClaim, when not nil, names the snapshot repository's
// shared volume claim, which every node mounts and lists in path.repo.
func (b *builder) esPodSpec(creds *credentials, tls *corev1.Secret, realm *fileRealm, headlessName pulumi.StringOutput, heap int, snapshotClaim pulumi.StringInput) (*corev1.PodSpecArgs, error) {
	es := b.args.Elasticsearch
	storage, err := esEphemeralStorageFor(es)
	if err != nil {
		return nil, err
	}
	env := b.esSettings(headlessName, heap)
	// No ELASTIC_PASSWORD: nothing logs in as `elastic`. Without it a new cluster gives `elastic` no
	// password anyone knows (its bootstrap password falls back to the keystore's random seed), so it
	// cannot log in; the setup Job also disables it, for clusters created with a password.
	env = append(env, corev1.EnvVarArgs{
		// Only the readiness probe reads it.
		Name: pulumi.String(envAdminPassword),
		ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
			Name: creds.secret.Metadata.Name(),
			Key:  pulumi.String(SecretKeyAdminPassword),
		}},
	}, corev1.EnvVarArgs{Name: pulumi.String("ES_TMPDIR"), Value: pulumi.String("/tmp")})

	emptyDir := func(name, size string) corev1.VolumeArgs {
		return corev1.VolumeArgs{Name: pulumi.String(name), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(size)}}
	}
	volumes := corev1.VolumeArray{
		emptyDir("config", esConfigSize),
		emptyDir("tmp", esTmpSize),
		emptyDir("logs", esLogsSize),
		corev1.VolumeArgs{Name: pulumi.String("certs"), Secret: &corev1.SecretVolumeSourceArgs{
			SecretName: tls.Metadata.Name(), DefaultMode: pulumi.Int(0o440),
		}},
		// Group-readable: the pod's fsGroup is Elasticsearch's group, and nothing else may read the hash.
		corev1.VolumeArgs{Name: pulumi.String("file-realm"), Secret: &corev1.SecretVolumeSourceArgs{
			SecretName: realm.secret.Metadata.Name(), DefaultMode: pulumi.Int(0o440),
		}},
	}
	if es.Ephemeral {
		// Bounded by the size a volume claim would have had; the container's ephemeral storage
		// includes it (esEphemeralStorageFor).
		volumes = append(volumes, emptyDir("data", es.StorageSize))
	}
	mount := func(name, path string) corev1.VolumeMountArgs {
		return corev1.VolumeMountArgs{Name: pulumi.String(name), MountPath: pulumi.String(path)}
	}
	fileMount := func(name, path, key string) corev1.VolumeMountArgs {
		return corev1.VolumeMountArgs{Name: pulumi.String(name), MountPath: pulumi.String(path), SubPath: pulumi.String(key), ReadOnly: pulumi.Bool(true)}
	}
	mounts := corev1.VolumeMountArray{
		mount("data", esHome+"/data"),
		mount("config", esHome+"/config"),
		mount("certs", esCertsDir),
		mount("tmp", "/tmp"),
		mount("logs", esHome+"/logs"),
		// Single files over the copied config directory, which keeps its other files writable.
		fileMount("file-realm", esHome+"/config/"+fileRealmUsers, fileRealmUsers),
		fileMount("file-realm", esHome+"/config/"+fileRealmUsersRoles, fileRealmUsersRoles),
	}
	if snapshotClaim != nil {
		volumes = append(volumes, corev1.VolumeArgs{Name: pulumi.String(snapshotsVolumeName), PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{
			ClaimName: snapshotClaim,
		}})
		mounts = append(mounts, mount(snapshotsVolumeName, snapshotsDir))
		env = append(env, corev1.EnvVarArgs{Name: pulumi.String("path.repo"), Value: pulumi.String(snapshotsDir)})
	}
	container := corev1.ContainerArgs{
		Name:            pulumi.String("elasticsearch"),
		Image:           pulumi.String(ElasticsearchImage),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Ports: corev1.ContainerPortArray{
			corev1.ContainerPortArgs{Name: pulumi.String("https"), ContainerPort: pulumi.Int(esHTTPPort)},
			corev1.ContainerPortArgs{Name: pulumi.String("transport"), ContainerPort: pulumi.Int(esTransportPort)},
		},
		Env:       env,
		Resources: es.Resources.WithEphemeralStorage(storage).Args(),
		// A slow first start (security index, plugins) gets five minutes before liveness counts.
		StartupProbe: &corev1.ProbeArgs{
			TcpSocket:        &corev1.TCPSocketActionArgs{Port: pulumi.String("https")},
			PeriodSeconds:    pulumi.Int(5),
			FailureThreshold: pulumi.Int(60),
		},
		// Liveness only checks that the node answers: a red cluster is no reason to restart a node.
		LivenessProbe: &corev1.ProbeArgs{
			TcpSocket:        &corev1.TCPSocketActionArgs{Port: pulumi.String("transport")},
			PeriodSeconds:    pulumi.Int(10),
			FailureThreshold: pulumi.Int(6),
		},
		ReadinessProbe: &corev1.ProbeArgs{
			Exec:             &corev1.ExecActionArgs{Command: pulumi.StringArray{pulumi.String("sh"), pulumi.String("-c"), pulumi.String(healthCheck)}},
			PeriodSeconds:    pulumi.Int(10),
			TimeoutSeconds:   pulumi.Int(5),
			FailureThreshold: pulumi.Int(3),
		},
		SecurityContext: kube.RestrictedContainerSecurityContext(),
		VolumeMounts:    mounts,
	}
	// The root filesystem is read-only, but Elasticsearch writes its keystore into its config
	// directory: copy the image's config onto a writable volume first.
	copyConfig := corev1.ContainerArgs{
		Name:            pulumi.String("copy-config"),
		Image:           pulumi.String(ElasticsearchImage),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Command:         pulumi.StringArray{pulumi.String("sh"), pulumi.String("-c"), pulumi.String("cp -R " + esHome + "/config/. /mnt/config/")},
		Resources:       initResources.Args(),
		SecurityContext: kube.RestrictedContainerSecurityContext(),
		VolumeMounts:    corev1.VolumeMountArray{mount("config", "/mnt/config")},
	}
	spec := &corev1.PodSpecArgs{
		SecurityContext: kube.RestrictedPodSecurityContextAs(esUID),
		// Elasticsearch talks to nothing in the Kubernetes API.
		AutomountServiceAccountToken: pulumi.Bool(false),
		// Time to hand shards over and flush before the kill.
		TerminationGracePeriodSeconds: pulumi.Int(120),
		InitContainers:                corev1.ContainerArray{copyConfig},
		Containers:                    corev1.ContainerArray{container},
		Volumes:                       volumes,
	}
	if es.Replicas > 1 {
		// One node per machine, or losing a machine loses two copies of a shard and the quorum.
		spec.Affinity = &corev1.AffinityArgs{PodAntiAffinity: &corev1.PodAntiAffinityArgs{
			RequiredDuringSchedulingIgnoredDuringExecution: corev1.PodAffinityTermArray{corev1.PodAffinityTermArgs{
				TopologyKey:   pulumi.String(kube.LabelHostname),
				LabelSelector: &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(partElasticsearch))},
			}},
		}}
	}
	if es.SpreadAcrossZones {
		// Preferred, not required: a region with fewer zones than nodes must still schedule.
		spec.TopologySpreadConstraints = corev1.TopologySpreadConstraintArray{corev1.TopologySpreadConstraintArgs{
			MaxSkew:           pulumi.Int(1),
			TopologyKey:       pulumi.String(kube.LabelZone),
			WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
			LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(partElasticsearch))},
		}}
	}
	return spec, nil
}

// initResources size the short init steps; a pod's effective request is the larger of these and its
// containers' sum, so they add nothing to the sizing.
var initResources = kube.Resources{
	Requests:         kube.ResourceList{CPU: "10m", Memory: "32Mi"},
	Limits:           kube.ResourceList{CPU: "100m", Memory: "64Mi"},
	EphemeralStorage: kube.SmallEphemeralStorage,
}
