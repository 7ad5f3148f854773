package logging

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Pinned images: a tag is a promise about what runs, and the generated configuration is checked
// against exactly these versions.
const (
	ElasticsearchImage = "docker.elastic.co/elasticsearch/elasticsearch:8.17.4"
	KibanaImage        = "docker.elastic.co/kibana/kibana:8.17.4"
	FluentBitImage     = "cr.fluentbit.io/fluent/fluent-bit:4.0.3"
	SetupImage         = "docker.io/curlimages/curl:8.13.0"
)

// LoggingArgs configure a Logging stack. Plain Go fields decide what exists; pulumi inputs carry the
// generated secrets.
type LoggingArgs struct {
	// Namespace is created by the component with the `restricted` Pod Security level, for
	// Elasticsearch, Kibana and the setup Job; Fluent Bit runs in a namespace of its own
	// (FluentBit.Namespace).
	Namespace string
	// Environment is recorded as a label on every object.
	Environment string
	// RetentionDays is how long a log line is kept after its index rolls over.
	RetentionDays int
	// DataStream receives the logs. Default "nexios-logs".
	DataStream string

	Elasticsearch Elasticsearch
	FluentBit     FluentBit
	Kibana        Kibana
	// Snapshots, when set, snapshots the logs on a schedule into a shared filesystem repository
	// (snapshots.go). Nil: no snapshots.
	Snapshots *Snapshots

	// AdminPassword is the password of the administrative user AdminUser, which only the setup Job
	// and the readiness probe use, and AdminPasswordHash its bcrypt hash, which Elasticsearch's file
	// realm reads (the user lives in a file, not in the security index, so a new password takes effect
	// when the pods restart); KibanaSystemPassword the `kibana_system` user's; FluentBitWriterPassword
	// the `fluentbit_writer` user's, which may only append to the data stream; CASeed derives the
	// certificate authority and keys of Elasticsearch's TLS. All secrets.
	AdminPassword           pulumi.StringInput
	AdminPasswordHash       pulumi.StringInput
	KibanaSystemPassword    pulumi.StringInput
	FluentBitWriterPassword pulumi.StringInput
	CASeed                  pulumi.StringInput

	// Grafana, when set, gets the read-only `grafana_reader` user and may reach Elasticsearch's client
	// port. Nil without Grafana.
	Grafana *GrafanaReader

	// IngressControllerNamespace may reach Kibana when it has an ingress; MonitoringNamespace may
	// scrape Fluent Bit's metrics. Empty leaves either out.
	IngressControllerNamespace string
	MonitoringNamespace        string
}

// Elasticsearch sizes the log store.
type Elasticsearch struct {
	// Replicas is 1 (a single node) or at least 3 master-eligible data nodes.
	Replicas int
	// StorageSize is each node's data volume (with Ephemeral: the emptyDir's sizeLimit, which its
	// ephemeral-storage request and limit include); StorageClass empty means the cluster's default class.
	StorageSize  string
	StorageClass string
	// Ephemeral puts the data on an emptyDir, for clusters without a storage provisioner.
	Ephemeral bool
	Resources kube.Resources
	// SpreadAcrossZones adds a zone topology spread; multi-node clusters always spread over nodes.
	SpreadAcrossZones bool
}

// FluentBit sizes the log shipper on every node.
type FluentBit struct {
	// Namespace is created by the component for Fluent Bit alone, with the `privileged` Pod Security
	// level that its hostPath volumes need, so that no other pod may mount the node's files.
	// Default "<Namespace>-agents".
	Namespace string
	Resources kube.Resources
	// BufferLimit caps the on-disk buffer per node (storage.total_limit_size): how much an
	// Elasticsearch outage may queue before the oldest chunks are dropped. Default "2G".
	BufferLimit string
	// HostBufferPath is the node directory that holds the buffer and the tail positions, so both
	// survive a Fluent Bit restart. Default /var/lib/fluent-bit.
	HostBufferPath string
}

// Kibana sizes the log UI.
type Kibana struct {
	Replicas  int
	Resources kube.Resources
	// Ingress is nil without an ingress.
	Ingress *Ingress
}

// GrafanaReader is a Grafana that searches the logs from another namespace.
type GrafanaReader struct {
	// Namespace and PodLabels select Grafana's pods, the only ones outside this namespace that may
	// reach Elasticsearch.
	Namespace string
	PodLabels map[string]string
	// Password is the grafana_reader user's; secret.
	Password pulumi.StringInput
}

// Ingress exposes Kibana on Host.
type Ingress struct {
	ClassName string
	Host      string
	// TLSSecretName, when set, terminates TLS with that secret.
	TLSSecretName string
}

var (
	fluentBitSize = regexp.MustCompile(`^[0-9]+[KMG]?$`)
	// dnsLabel is what Kubernetes accepts as a namespace name (RFC 1123 label, at most 63 characters).
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
)

// agentsNamespaceSuffix names Fluent Bit's namespace after the stack's: several stacks on one cluster
// keep their namespaces apart, and no stack key is needed.
const agentsNamespaceSuffix = "-agents"

// AgentsNamespace is Fluent Bit's default namespace for a stack whose logging namespace is namespace:
// the one namespace at Pod Security `privileged`, the documented exception to `restricted`.
func AgentsNamespace(namespace string) string { return namespace + agentsNamespaceSuffix }

// defaultEphemeralDataSize bounds an ephemeral data emptyDir when the caller gives no StorageSize: an
// unbounded one could fill the node's disk. The dev profile's volume size.
const defaultEphemeralDataSize = "5Gi"

// withDefaults returns a copy of args with empty fields filled.
func (a LoggingArgs) withDefaults() LoggingArgs {
	if a.DataStream == "" {
		a.DataStream = "nexios-logs"
	}
	if a.Elasticsearch.Replicas == 0 {
		a.Elasticsearch.Replicas = 1
	}
	if a.Kibana.Replicas == 0 {
		a.Kibana.Replicas = 1
	}
	if a.Kibana.Resources == (kube.Resources{}) {
		// Kibana 8's Node.js server needs about 1 GiB to start and serve Discover comfortably.
		a.Kibana.Resources = kube.Resources{
			Requests: kube.ResourceList{CPU: "100m", Memory: "1Gi"},
			Limits:   kube.ResourceList{CPU: "1", Memory: "1Gi"},
		}
	}
	if a.FluentBit.Resources == (kube.Resources{}) {
		// Fluent Bit's memory is bounded by the tail input's mem_buf_limit plus its own few MiB;
		// the buffer beyond that lives on disk.
		a.FluentBit.Resources = kube.Resources{
			Requests: kube.ResourceList{CPU: "50m", Memory: "64Mi"},
			Limits:   kube.ResourceList{CPU: "500m", Memory: "256Mi"},
		}
	}
	// The stack files size CPU and memory only; the local disk each workload needs follows from its
	// volumes (storage.go). Elasticsearch's depends on where its data lives and is sized as it is built.
	a.Kibana.Resources = a.Kibana.Resources.WithEphemeralStorage(kibanaEphemeralStorage)
	a.FluentBit.Resources = a.FluentBit.Resources.WithEphemeralStorage(kube.SmallEphemeralStorage)
	if a.FluentBit.Namespace == "" && a.Namespace != "" {
		a.FluentBit.Namespace = AgentsNamespace(a.Namespace)
	}
	if a.Elasticsearch.Ephemeral && a.Elasticsearch.StorageSize == "" {
		a.Elasticsearch.StorageSize = defaultEphemeralDataSize
	}
	if a.FluentBit.BufferLimit == "" {
		// A couple of hours of a busy node's logs: enough to ride out an Elasticsearch restart or upgrade.
		a.FluentBit.BufferLimit = "2G"
	}
	if a.FluentBit.HostBufferPath == "" {
		a.FluentBit.HostBufferPath = "/var/lib/fluent-bit"
	}
	if in := a.Kibana.Ingress; in != nil && in.ClassName == "" {
		copied := *in
		copied.ClassName = "nginx"
		a.Kibana.Ingress = &copied
	}
	return a
}

// validate reports every argument that cannot produce a working stack, all at once.
func (a LoggingArgs) validate() error {
	var errs []error
	if a.Namespace == "" {
		errs = append(errs, errors.New("Namespace is required"))
	}
	if a.RetentionDays < 1 {
		errs = append(errs, fmt.Errorf("RetentionDays must be at least 1, got %d", a.RetentionDays))
	}
	if es := a.Elasticsearch; es.Replicas != 1 && es.Replicas < 3 {
		errs = append(errs, fmt.Errorf("Elasticsearch.Replicas must be 1 or at least 3 (a master needs a majority), got %d", es.Replicas))
	}
	if size := a.Elasticsearch.StorageSize; size == "" {
		if !a.Elasticsearch.Ephemeral {
			errs = append(errs, errors.New("Elasticsearch.StorageSize is required unless Ephemeral"))
		}
	} else if _, err := kube.ParseQuantity(size); err != nil {
		// Also the emptyDir's sizeLimit and a part of the ephemeral storage with Ephemeral.
		errs = append(errs, fmt.Errorf("Elasticsearch.StorageSize: %w", err))
	}
	if ns := a.FluentBit.Namespace; a.Namespace != "" && (!dnsLabel.MatchString(ns) || ns == a.Namespace) {
		errs = append(errs, fmt.Errorf("FluentBit.Namespace %q must be a namespace name (at most 63 lowercase letters, digits and dashes) other than Namespace; "+
			"the default adds %q to Namespace, so Namespace may have at most %d characters", ns, agentsNamespaceSuffix, 63-len(agentsNamespaceSuffix)))
	}
	if err := a.Elasticsearch.Resources.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Elasticsearch.%w", err))
	} else if _, err := HeapSize(a.Elasticsearch.Resources.Limits.Memory); err != nil {
		errs = append(errs, fmt.Errorf("Elasticsearch.Resources.Limits.Memory: %w", err))
	}
	if err := a.Kibana.Resources.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Kibana.%w", err))
	}
	if err := a.FluentBit.Resources.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("FluentBit.%w", err))
	}
	if !fluentBitSize.MatchString(a.FluentBit.BufferLimit) {
		errs = append(errs, fmt.Errorf("FluentBit.BufferLimit %q is not a Fluent Bit size such as 512M or 2G", a.FluentBit.BufferLimit))
	}
	if in := a.Kibana.Ingress; in != nil && in.Host == "" {
		errs = append(errs, errors.New("Kibana.Ingress.Host is required"))
	}
	if a.AdminPassword == nil || a.AdminPasswordHash == nil || a.KibanaSystemPassword == nil || a.FluentBitWriterPassword == nil || a.CASeed == nil {
		errs = append(errs, errors.New("AdminPassword, AdminPasswordHash, KibanaSystemPassword, FluentBitWriterPassword and CASeed are required"))
	}
	if err := a.Snapshots.validate(); err != nil {
		errs = append(errs, err)
	}
	if g := a.Grafana; g != nil && (g.Namespace == "" || len(g.PodLabels) == 0 || g.Password == nil) {
		errs = append(errs, errors.New("Grafana needs its Namespace, PodLabels and Password"))
	}
	return errors.Join(errs...)
}
