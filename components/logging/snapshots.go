package logging

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Snapshots back the logs up with Elasticsearch's snapshot lifecycle management (SLM): a policy
// snapshots the data stream on a schedule into a shared filesystem repository and deletes the
// snapshots that have expired.
//
// The repository is of type "fs": a directory that every node mounts at the same path and lists in
// path.repo, here a ReadWriteMany volume claim (NFS, EFS, Azure Files, CephFS...). It needs no plugin,
// no object-store credentials and no egress, and it works the same on every cluster that can provision
// such a claim; a snapshot on it is as durable as that storage, so a copy off the cluster is the
// storage's own backup. A cluster with an object store would use an s3 or gcs repository instead,
// which this component does not configure.
type Snapshots struct {
	// Schedule is the policy's cron expression, Elasticsearch's format with seconds first
	// (e.g. "0 30 1 * * ?": every day at 01:30 UTC).
	Schedule string
	// ExpireAfterDays deletes snapshots older than this, keeping at least MinCount and at most
	// MaxCount of them.
	ExpireAfterDays    int
	MinCount, MaxCount int
	// StorageSize is the shared volume's; StorageClass must provision ReadWriteMany volumes (empty: the
	// cluster's default class).
	StorageSize  string
	StorageClass string
}

// The repository's directory in every node, and the names of the repository and the policy.
const (
	snapshotsDir        = esHome + "/snapshots"
	fileSnapshotRepo    = "snapshot-repository.json"
	fileSnapshotPolicy  = "snapshot-policy.json"
	snapshotsVolumeName = "snapshots"
)

// snapshotName names both the repository and the policy (Elasticsearch keeps them apart) after the
// data stream they back up.
func snapshotName(dataStream string) string { return dataStream + "-snapshots" }

func (s *Snapshots) validate() error {
	if s == nil {
		return nil
	}
	var errs []error
	if fields := strings.Fields(s.Schedule); len(fields) < 6 || len(fields) > 7 {
		errs = append(errs, fmt.Errorf("Snapshots.Schedule %q is not an Elasticsearch cron expression (6 or 7 fields, seconds first, e.g. \"0 30 1 * * ?\")", s.Schedule))
	}
	if s.ExpireAfterDays < 1 {
		errs = append(errs, fmt.Errorf("Snapshots.ExpireAfterDays must be at least 1, got %d", s.ExpireAfterDays))
	}
	if s.MinCount < 1 || s.MaxCount < s.MinCount {
		errs = append(errs, fmt.Errorf("Snapshots.MinCount must be at least 1 and MaxCount at least MinCount, got %d and %d", s.MinCount, s.MaxCount))
	}
	if _, err := kube.ParseQuantity(s.StorageSize); err != nil {
		errs = append(errs, fmt.Errorf("Snapshots.StorageSize: %w", err))
	}
	return errors.Join(errs...)
}

// SnapshotRepository is the body of PUT _snapshot/<repository>: the shared directory every node mounts.
func SnapshotRepository() ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"type":     "fs",
		"settings": map[string]any{"location": snapshotsDir, "compress": true},
	}, "", "  ")
}

// SnapshotPolicy is the body of PUT _slm/policy/<policy>: the data stream's indices (not the cluster's
// global state: users and settings are the program's, rebuilt by an up) on the schedule, named by
// date, with the retention.
func SnapshotPolicy(dataStream string, s Snapshots) ([]byte, error) {
	if dataStream == "" {
		return nil, errors.New("the data stream name is empty")
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return json.MarshalIndent(map[string]any{
		"schedule":   s.Schedule,
		"name":       "<" + dataStream + "-{now/d}>",
		"repository": snapshotName(dataStream),
		"config": map[string]any{
			"indices":              []string{dataStream},
			"include_global_state": false,
		},
		"retention": map[string]any{
			"expire_after": fmt.Sprintf("%dd", s.ExpireAfterDays),
			"min_count":    s.MinCount,
			"max_count":    s.MaxCount,
		},
	}, "", "  ")
}

// snapshotScript registers the repository, then the policy that writes into it: Elasticsearch checks
// that every node can write to the repository when it is registered. With snapshots off it removes
// both, the policy first, so a stack that turns them off is left with no policy failing on a
// repository its nodes no longer mount (an absent one is fine: 404).
func snapshotScript(dataStream string, on bool) string {
	name := snapshotName(dataStream)
	if on {
		return fmt.Sprintf("request PUT '/_snapshot/%s' @%s/%s\nrequest PUT '/_slm/policy/%s' @%s/%s\n",
			name, setupDir, fileSnapshotRepo, name, setupDir, fileSnapshotPolicy)
	}
	return fmt.Sprintf(`forget() {
  code=$(curl --silent --show-error --max-time 30 --retry %[2]d --retry-delay %[3]d --retry-all-errors \
    --cacert %[4]s/ca.crt -K /tmp/auth -o /dev/null -w '%%{http_code}' -X DELETE "$ES_URL$1")
  case "$code" in 200|404) ;; *) echo "DELETE $1: HTTP $code" >&2; exit 1 ;; esac
}
forget '/_slm/policy/%[1]s'
forget '/_snapshot/%[1]s'
`, name, setupRetries, setupRetryDelaySecs, setupCertsDir)
}

// snapshotClaim is the shared volume of the repository: one claim that every node mounts.
func (b *builder) snapshotClaim() (*corev1.PersistentVolumeClaim, error) {
	s := b.args.Snapshots
	spec := &corev1.PersistentVolumeClaimSpecArgs{
		AccessModes: pulumi.StringArray{pulumi.String("ReadWriteMany")},
		Resources:   &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String(s.StorageSize)}},
	}
	if s.StorageClass != "" {
		spec.StorageClassName = pulumi.String(s.StorageClass)
	}
	claim, err := corev1.NewPersistentVolumeClaim(b.ctx, b.name+"-snapshots", &corev1.PersistentVolumeClaimArgs{
		Metadata: b.meta(partElasticsearch),
		Spec:     spec,
	}, b.child, b.inNamespace)
	if err != nil {
		return nil, fmt.Errorf("creating the snapshot repository's volume claim: %w", err)
	}
	return claim, nil
}
