package database

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Image is the PostgreSQL image (tools/images): Debian bookworm's PostgreSQL 15 under the official
// postgres image's environment contract (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA),
// running as UID and GID 999 on a read-only root filesystem, with pg_dump, pg_restore, psql,
// pg_isready and curl (with --aws-sigv4 and the CA certificates, for copying backups to an
// S3-compatible bucket) on its PATH.
const Image = "ghcr.io/nexios-labs/nexios-postgres:15"

// Port is where PostgreSQL listens.
const Port = 5432

// DatabaseArgs configure a Database. Plain Go fields decide which resources exist; pulumi inputs carry
// values that come from other resources.
type DatabaseArgs struct {
	// Namespace is an existing namespace (the app's): pass the output of the resource that creates it,
	// so every child waits for it.
	Namespace pulumi.StringInput
	// Environment is recorded as a label on every object.
	Environment string
	// Image defaults to Image.
	Image string
	// User and Database name the role and the database the server creates on its first start. Default
	// "nexios" both.
	User, Database string
	// Password is the role's; the server reads it only when it initialises an empty data directory.
	Password pulumi.StringInput
	// StorageSize and StorageClass are the data volume claim's (an empty class is the cluster default).
	StorageSize, StorageClass string
	// Resources size the server's container; EphemeralStorage defaults to defaultEphemeralStorage.
	Resources kube.Resources
	// ClientPods are the labels of the pods allowed to connect (the app's, app.App.PodLabels).
	ClientPods pulumi.StringMapInput
	// Backup, when set, dumps the database on a schedule; nil leaves it out.
	Backup *Backup
}

// Backup schedules logical backups (`pg_dump -Fc`) onto a volume claim of their own or into an
// S3-compatible bucket.
type Backup struct {
	// Schedule is a cron expression, in UTC.
	Schedule string
	// Retention is how many dumps each run keeps, the newest.
	Retention int
	// StorageSize is the backup claim's, of the data claim's StorageClass; with S3, the scratch space
	// one dump is written to before its upload.
	StorageSize string
	// S3, when set, keeps the dumps in a bucket instead of a claim: off the cluster, so they outlive it.
	S3 *S3
}

// S3 is a bucket of an S3-compatible service, addressed path-style (Endpoint/Bucket/key).
type S3 struct {
	// Endpoint is the service's URL, http(s)://HOST[:PORT], e.g. https://s3.eu-west-1.amazonaws.com.
	Endpoint string
	Bucket   string
	// Prefix starts every key the backups write, e.g. "nexios/prod/"; it may be empty.
	Prefix string
	// Region is what requests are signed for (AWS Signature Version 4).
	Region string
	// AccessKeyID and SecretAccessKey are a key pair allowed to list, put, get and delete objects
	// under Prefix; they reach the Job through a Secret.
	AccessKeyID, SecretAccessKey pulumi.StringInput
}

// withDefaults returns a copy of args with empty fields filled.
func (a DatabaseArgs) withDefaults() DatabaseArgs {
	if a.Image == "" {
		a.Image = Image
	}
	if a.User == "" {
		a.User = "nexios"
	}
	if a.Database == "" {
		a.Database = "nexios"
	}
	a.Resources = a.Resources.WithEphemeralStorage(defaultEphemeralStorage)
	return a
}

// defaultEphemeralStorage is the server container's local disk beside its data claim: the socket and
// lock directory and /tmp (their sizeLimits) and its logs (kube.ContainerLogAllowance), with room to
// spare.
var defaultEphemeralStorage = kube.EphemeralStorage{Request: "128Mi", Limit: "256Mi"}

// identifier is what PostgreSQL takes unquoted as a role or database name (and what needs no escaping
// in a URL): lowercase letters, digits and '_', not starting with a digit, at most 63 bytes.
var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// dnsLabel is a Service's name: a DNS label starting with a letter.
var dnsLabel = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// validate reports every argument that cannot produce a working database, all at once.
func (a DatabaseArgs) validate(name string) error {
	var errs []error
	// The ClusterIP Service is named after the component, and a Service name is a DNS label.
	if len(name) > 63 || !dnsLabel.MatchString(name) {
		errs = append(errs, fmt.Errorf("name %q is not a valid Service name (a DNS label of at most 63 characters, starting with a letter)", name))
	}
	if a.Namespace == nil {
		errs = append(errs, errors.New("Namespace is required"))
	}
	if a.Password == nil {
		errs = append(errs, errors.New("Password is required"))
	}
	if a.ClientPods == nil {
		errs = append(errs, errors.New("ClientPods is required: without it no pod could connect"))
	}
	for _, f := range []struct{ field, value string }{{"User", a.User}, {"Database", a.Database}} {
		if !identifier.MatchString(f.value) {
			errs = append(errs, fmt.Errorf("%s %q is not a plain PostgreSQL identifier (lowercase letters, digits, '_')", f.field, f.value))
		}
	}
	if err := checkSize("StorageSize", a.StorageSize); err != nil {
		errs = append(errs, err)
	}
	if err := a.Resources.Validate(); err != nil {
		errs = append(errs, err)
	}
	if b := a.Backup; b != nil {
		if b.Schedule == "" {
			errs = append(errs, errors.New("Backup.Schedule is required"))
		}
		if b.Retention < 1 {
			errs = append(errs, fmt.Errorf("Backup.Retention must be at least 1, got %d", b.Retention))
		}
		if err := checkSize("Backup.StorageSize", b.StorageSize); err != nil {
			errs = append(errs, err)
		}
		if b.S3 != nil {
			errs = append(errs, b.S3.validate()...)
		}
	}
	return errors.Join(errs...)
}

// bucketName is an S3 bucket name as every S3-compatible service takes it.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// keyPrefix is what the backup script can put in a URL and read back from a listing without
// escaping: letters, digits and - _ . / (XML and URL special characters excluded).
var keyPrefix = regexp.MustCompile(`^[A-Za-z0-9._/-]*$`)

// region is an AWS-style region name (us-east-1, eu-central-1, or a service's own such as garage's).
var region = regexp.MustCompile(`^[a-z0-9-]+$`)

func (s *S3) validate() []error {
	var errs []error
	for _, c := range []struct {
		field string
		err   error
	}{
		{"Endpoint", CheckEndpoint(s.Endpoint)}, {"Bucket", CheckBucket(s.Bucket)}, {"Prefix", CheckPrefix(s.Prefix)}, {"Region", CheckRegion(s.Region)},
	} {
		if c.err != nil {
			errs = append(errs, fmt.Errorf("Backup.S3.%s: %w", c.field, c.err))
		}
	}
	if s.AccessKeyID == nil || s.SecretAccessKey == nil {
		errs = append(errs, errors.New("Backup.S3.AccessKeyID and Backup.S3.SecretAccessKey are required"))
	}
	return errs
}

// CheckBucket accepts a bucket name as every S3-compatible service takes it.
func CheckBucket(bucket string) error {
	if !bucketName.MatchString(bucket) {
		return fmt.Errorf("%q is not a bucket name (3 to 63 lowercase letters, digits, '.' and '-')", bucket)
	}
	return nil
}

// CheckPrefix accepts a key prefix the backup script can put in a URL and read back from a listing.
func CheckPrefix(prefix string) error {
	if !keyPrefix.MatchString(prefix) || strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("%q may hold only letters, digits and - _ . / and must not start with /", prefix)
	}
	return nil
}

// CheckRegion accepts a region name requests can be signed for.
func CheckRegion(r string) error {
	if !region.MatchString(r) {
		return fmt.Errorf("%q is not a region name (e.g. us-east-1)", r)
	}
	return nil
}

// CheckEndpoint accepts an S3 endpoint the backup script can use: an http or https URL of a host
// and an optional port, nothing else (the bucket goes in the path).
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %w", endpoint, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q is not an http(s) URL", endpoint)
	case u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q must be scheme://host[:port] alone (the bucket goes in Bucket, key paths in Prefix)", endpoint)
	}
	return nil
}

// endpointPort is the TCP port an endpoint accepted by CheckEndpoint is reached on.
func endpointPort(endpoint string) int {
	u, _ := url.Parse(endpoint)
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return p
	}
	if u.Scheme == "http" {
		return 80
	}
	return 443
}

func checkSize(field, size string) error {
	v, err := kube.ParseQuantity(size)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	if v <= 0 {
		return fmt.Errorf("%s must be above 0, got %q", field, size)
	}
	return nil
}
