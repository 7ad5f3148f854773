// Package database runs a PostgreSQL server for the app in the app's namespace: a one-replica
// StatefulSet on a volume claim, its Services, a NetworkPolicy admitting only the app's pods, and,
// when asked, a CronJob dumping the database onto a backup claim.
package database

import (
	"errors"
	"fmt"
	"net/url"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Paths of the image's contract.
const (
	dataMountPath = "/var/lib/postgresql/data"
	// pgData is a directory inside the claim: initdb refuses a non-empty directory, and a fresh
	// volume's root may hold lost+found.
	pgData         = dataMountPath + "/pgdata"
	socketDir      = "/var/run/postgresql"
	secretKeyPass  = "password"
	portName       = "postgres"
	containerName  = "postgres"
	socketSizeMax  = "16Mi"
	tmpSizeMax     = "64Mi"
	dataVolumeName = "data"
	// uid is the image's postgres user and group, which owns the data directory.
	uid = 999
)

// Database is a deployed PostgreSQL server.
type Database struct {
	pulumi.ResourceState

	// ServiceName is the ClusterIP Service clients connect to, in Namespace.
	ServiceName pulumi.StringOutput `pulumi:"serviceName"`
	Namespace   pulumi.StringOutput `pulumi:"namespace"`
	// URL is the connection string, postgresql://USER:PASSWORD@SERVICE.NAMESPACE.svc:5432/DB: a secret.
	URL             pulumi.StringOutput `pulumi:"url"`
	StatefulSetName pulumi.StringOutput `pulumi:"statefulSetName"`
	// BackupCronJobName is the backup CronJob's name, "" without backups.
	BackupCronJobName pulumi.StringOutput `pulumi:"backupCronJobName"`
}

var _ pulumi.ComponentResource = (*Database)(nil)

// serviceName is the name of the ClusterIP Service of the Database called name: fixed (kube.AddressName),
// so the app's DATABASE_URL can be composed before the Database is registered (URLFor) and survives a
// recovery.
func serviceName(name string) string { return name }

// URLFor is the URL that NewDatabase(ctx, name, args) exports once it is deployed in namespace, known
// before it is registered: for the app, which must hold it in its Secret and creates the namespace the
// Database then goes into.
func URLFor(name, namespace string, args *DatabaseArgs) pulumi.StringOutput {
	a := args.withDefaults()
	return connectionURL(pulumi.String(serviceName(name)), pulumi.String(namespace), a.User, a.Database, a.Password)
}

// connectionURL composes the connection string to a Database's Service, as a secret. The password is
// escaped for a URL's userinfo.
func connectionURL(service, namespace pulumi.StringInput, user, database string, password pulumi.StringInput) pulumi.StringOutput {
	u := pulumi.All(service, namespace, password).ApplyT(func(v []any) string {
		return (&url.URL{
			Scheme: "postgresql",
			User:   url.UserPassword(user, v[2].(string)),
			Host:   fmt.Sprintf("%s.%s.svc:%d", v[0].(string), v[1].(string), Port),
			Path:   "/" + database,
		}).String()
	}).(pulumi.StringOutput)
	return pulumi.ToSecret(u).(pulumi.StringOutput)
}

// NewDatabase deploys a PostgreSQL server. Pass the Kubernetes provider as an option; every child uses it.
func NewDatabase(ctx *pulumi.Context, name string, args *DatabaseArgs, opts ...pulumi.ResourceOption) (*Database, error) {
	if args == nil {
		return nil, errors.New("database: args are required")
	}
	a := args.withDefaults()
	if err := a.validate(name); err != nil {
		return nil, fmt.Errorf("database %q: %w", name, err)
	}
	db := &Database{}
	if err := ctx.RegisterComponentResource("nexios:components:Database", name, db, opts...); err != nil {
		return nil, fmt.Errorf("registering database %q: %w", name, err)
	}
	b := &builder{ctx: ctx, name: name, args: a, child: pulumi.Parent(db), namespace: a.Namespace.ToStringOutput()}
	if err := b.build(db); err != nil {
		return nil, fmt.Errorf("database %q: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(db, pulumi.Map{
		"serviceName":       db.ServiceName,
		"namespace":         db.Namespace,
		"url":               db.URL,
		"statefulSetName":   db.StatefulSetName,
		"backupCronJobName": db.BackupCronJobName,
	}); err != nil {
		return nil, fmt.Errorf("registering outputs of database %q: %w", name, err)
	}
	return db, nil
}

// builder carries what every child needs while the database is assembled.
type builder struct {
	ctx       *pulumi.Context
	name      string
	args      DatabaseArgs
	child     pulumi.ResourceOption
	namespace pulumi.StringOutput
}

// Workloads of the component, as their app.kubernetes.io/name label.
const (
	nameServer = "postgres"
	nameBackup = "postgres-backup"
)

func (b *builder) selector(workload string) map[string]string {
	return kube.SelectorLabels(workload, b.name)
}

func (b *builder) labels(workload string) map[string]string {
	return kube.ObjectLabels(b.ctx, workload, b.name, "database", b.args.Environment)
}

func (b *builder) meta(workload string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Namespace: b.namespace, Labels: kube.StringMap(b.labels(workload))}
}

func (b *builder) build(db *Database) error {
	credentials, err := corev1.NewSecret(b.ctx, b.name+"-credentials", &corev1.SecretArgs{
		Metadata:   b.meta(nameServer),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{secretKeyPass: pulumi.ToSecret(b.args.Password).(pulumi.StringOutput)},
	}, b.child, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))
	if err != nil {
		return fmt.Errorf("creating credentials secret: %w", err)
	}
	template := b.serverTemplate(credentials)
	backend := kube.Backend{Namespace: b.namespace, Template: template}
	ports := corev1.ServicePortArray{corev1.ServicePortArgs{
		Name: pulumi.String(portName), Port: pulumi.Int(Port), TargetPort: pulumi.String(portName), Protocol: pulumi.String("TCP"),
	}}
	// The StatefulSet's governing Service must be headless: it gives the pod its stable DNS name; the
	// pod itself never needs it, so it is proved against the template like the client Service.
	governing, err := kube.NewService(b.ctx, b.name+"-headless", &corev1.ServiceArgs{
		Metadata: b.meta(nameServer),
		Spec: &corev1.ServiceSpecArgs{
			ClusterIP: pulumi.String("None"),
			Selector:  kube.StringMap(b.selector(nameServer)),
			Ports:     ports,
		},
	}, backend, b.child)
	if err != nil {
		return fmt.Errorf("governing service: %w", err)
	}
	// Its name is in the app's DATABASE_URL: fixed, so the URL is known before the server exists and
	// stays the same after a recovery (kube.AddressName).
	service, err := kube.NewService(b.ctx, b.name+"-service", &corev1.ServiceArgs{
		Metadata: kube.AddressName(b.meta(nameServer), serviceName(b.name)),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: kube.StringMap(b.selector(nameServer)),
			Ports:    ports,
		},
	}, backend, b.child)
	if err != nil {
		return fmt.Errorf("client service: %w", err)
	}

	claim := &corev1.PersistentVolumeClaimSpecArgs{
		AccessModes: pulumi.StringArray{pulumi.String("ReadWriteOnce")},
		Resources:   &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String(b.args.StorageSize)}},
	}
	if b.args.StorageClass != "" {
		claim.StorageClassName = pulumi.String(b.args.StorageClass)
	}
	statefulSet, err := appsv1.NewStatefulSet(b.ctx, b.name+"-postgres", &appsv1.StatefulSetArgs{
		Metadata: b.meta(nameServer),
		Spec: &appsv1.StatefulSetSpecArgs{
			// One server: PostgreSQL replication is not set up here, and two pods on one data
			// directory would corrupt it.
			Replicas:    pulumi.Int(1),
			ServiceName: governing.Metadata.Name().Elem(),
			Selector:    &metav1.LabelSelectorArgs{MatchLabels: kube.StringMap(b.selector(nameServer))},
			Template:    template,
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{corev1.PersistentVolumeClaimTypeArgs{
				// Selector labels only, as Prometheus' and Elasticsearch's claims (README, "Several stacks
				// on one cluster"): a template's change replaces the StatefulSet.
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(dataVolumeName), Labels: kube.StringMap(b.selector(nameServer))},
				Spec:     claim,
			}},
			// A replaced StatefulSet finds its data again; the claim goes with the namespace.
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs{
				WhenDeleted: pulumi.String("Retain"), WhenScaled: pulumi.String("Retain"),
			},
		},
	}, b.child)
	if err != nil {
		return fmt.Errorf("creating statefulset: %w", err)
	}
	if err := b.networkPolicy(); err != nil {
		return err
	}
	cronJob := pulumi.String("").ToStringOutput()
	if b.args.Backup != nil {
		if cronJob, err = b.backup(credentials, service); err != nil {
			return err
		}
	}

	db.ServiceName = service.Metadata.Name().Elem()
	db.Namespace = b.namespace
	db.URL = connectionURL(db.ServiceName, b.namespace, b.args.User, b.args.Database, b.args.Password)
	db.StatefulSetName = statefulSet.Metadata.Name().Elem()
	db.BackupCronJobName = cronJob
	return nil
}

// serverTemplate is the server's pod template.
func (b *builder) serverTemplate(credentials *corev1.Secret) *corev1.PodTemplateSpecArgs {
	a := b.args
	// pg_isready asks the server itself over TCP, as clients reach it.
	ready := &corev1.ExecActionArgs{Command: pulumi.ToStringArray([]string{
		"pg_isready", "-h", "127.0.0.1", "-p", fmt.Sprint(Port), "-U", a.User,
	})}
	probe := func(period, failures int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{Exec: ready, PeriodSeconds: pulumi.Int(period), TimeoutSeconds: pulumi.Int(5), FailureThreshold: pulumi.Int(failures)}
	}
	container := corev1.ContainerArgs{
		Name:            pulumi.String(containerName),
		Image:           pulumi.String(a.Image),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Ports: corev1.ContainerPortArray{
			corev1.ContainerPortArgs{Name: pulumi.String(portName), ContainerPort: pulumi.Int(Port), Protocol: pulumi.String("TCP")},
		},
		Env: corev1.EnvVarArray{
			corev1.EnvVarArgs{Name: pulumi.String("POSTGRES_USER"), Value: pulumi.String(a.User)},
			corev1.EnvVarArgs{Name: pulumi.String("POSTGRES_DB"), Value: pulumi.String(a.Database)},
			corev1.EnvVarArgs{Name: pulumi.String("PGDATA"), Value: pulumi.String(pgData)},
			passwordEnv("POSTGRES_PASSWORD", credentials),
		},
		Resources:      a.Resources.Args(),
		ReadinessProbe: probe(10, 3),
		LivenessProbe:  probe(10, 6),
		// Generous: initialising an empty volume, or replaying the WAL after a crash, may take minutes
		// before liveness applies (10 minutes here).
		StartupProbe:    probe(5, 120),
		SecurityContext: kube.RestrictedContainerSecurityContext(),
		VolumeMounts: corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String(dataVolumeName), MountPath: pulumi.String(dataMountPath)},
			corev1.VolumeMountArgs{Name: pulumi.String("run"), MountPath: pulumi.String(socketDir)},
			corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
		},
	}
	return &corev1.PodTemplateSpecArgs{
		// No checksum of the password: the server reads POSTGRES_PASSWORD only when it initialises
		// an empty data directory, so rolling the pod for a new one would change nothing.
		Metadata: &metav1.ObjectMetaArgs{Labels: kube.StringMap(b.labels(nameServer))},
		Spec: &corev1.PodSpecArgs{
			AutomountServiceAccountToken: pulumi.Bool(false),
			// The image's postgres user; fsGroup makes the claim writable by it.
			SecurityContext: kube.RestrictedPodSecurityContextAs(uid),
			// A fast shutdown checkpoints first: give it time before the kill.
			TerminationGracePeriodSeconds: pulumi.Int(60),
			Containers:                    corev1.ContainerArray{container},
			Volumes: corev1.VolumeArray{
				corev1.VolumeArgs{Name: pulumi.String("run"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(socketSizeMax)}},
				corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(tmpSizeMax)}},
			},
		},
	}
}

// passwordEnv reads the password from the credentials Secret into an environment variable.
func passwordEnv(name string, credentials *corev1.Secret) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{
		Name: pulumi.String(name),
		ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
			Name: credentials.Metadata.Name(),
			Key:  pulumi.String(secretKeyPass),
		}},
	}
}
