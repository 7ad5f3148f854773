package database

import (
	"fmt"
	"strconv"
	"strings"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

const (
	// BackupMountPath is where the backup claim is mounted in the backup Job, or, with an S3 target,
	// the scratch volume a dump is written to before its upload.
	BackupMountPath = "/backups"
	// backupTmpSizeMax bounds the Job's /tmp, which pg_dump does not use beyond a few files.
	backupTmpSizeMax = "16Mi"
	// backupDeadlineSeconds stops a hung dump before the next one is due on an hourly schedule.
	backupDeadlineSeconds = 3000
	// Keys of the S3 credentials Secret: the names the AWS tools read.
	s3KeyID     = "AWS_ACCESS_KEY_ID"
	s3KeySecret = "AWS_SECRET_ACCESS_KEY"
)

// Modes of BackupScript, its first argument: the CronJob's Jobs run "backup"; a Job made from the
// CronJob with the argument "restore" restores the newest dump (docs/disaster-recovery.md).
const (
	ModeBackup  = "backup"
	ModeRestore = "restore"
)

// BackupScript backs the database up or restores it, by its first argument (ModeBackup, ModeRestore).
//
// A backup dumps the database in pg_dump's custom format (`pg_dump -Fc`, read by pg_restore) as
// $PGDATABASE-<UTC timestamp>.dump, then deletes all but the newest $RETENTION dumps; the timestamps
// sort by name in time order. It writes under a dot-name first and removes what an interrupted run
// left, so a dump cut short is never taken for a backup; the CronJob's Forbid policy means no other
// run writes meanwhile. A restore runs pg_restore of the newest dump over the database (--clean
// --if-exists: each object is dropped, then recreated).
//
// The dumps go onto the backup claim at $BACKUP_DIR, or, with $S3_BUCKET set, into that bucket of the
// S3-compatible service at $S3_ENDPOINT (path-style, under the key prefix $S3_PREFIX) through curl,
// each request signed with AWS Signature Version 4 for $S3_REGION and a signed payload hash, as S3
// requires; $BACKUP_DIR is then scratch space for one dump. A listing is read whole into a file
// before it is used, so a failed request stops the script instead of reading as "no dumps"; it reads
// one page of ListObjectsV2 (1,000 keys), far above any retention, which each run restores.
//
// A new pod's NetworkPolicy rules take a moment to be programmed on its node (kube-router's showed
// the first connections of a Job's pod refused, and every retry's pod is new), so the script waits up
// to a minute for the server to answer, and curl retries refused connections and transient errors.
// The script is POSIX sh (Debian's is dash).
const BackupScript = `set -eu
mode=${1:-` + ModeBackup + `}
case $mode in
` + ModeBackup + `|` + ModeRestore + `) ;;
*)
  echo "unknown mode $mode: want ` + ModeBackup + ` or ` + ModeRestore + `" >&2
  exit 2
  ;;
esac
prefix="$PGDATABASE-"
tries=0
until pg_isready -q -t 2; do
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || { echo "the database at $PGHOST:$PGPORT does not answer" >&2; exit 1; }
  sleep 1
done
if [ -n "${S3_BUCKET:-}" ]; then
  where="$S3_ENDPOINT/$S3_BUCKET/$S3_PREFIX"
  none=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
  s3() {
    hash=$1
    shift
    printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" |
      curl --config - --fail --silent --show-error --retry 5 --retry-connrefused --aws-sigv4 "aws:amz:$S3_REGION:s3" -H "x-amz-content-sha256: $hash" "$@"
  }
  dumps() {
    s3 "$none" -o "$BACKUP_DIR/.list.xml" "$S3_ENDPOINT/$S3_BUCKET?list-type=2&prefix=$(printf %s "$S3_PREFIX$prefix" | sed 's,/,%2F,g')"
    grep -o '<Key>[^<]*</Key>' "$BACKUP_DIR/.list.xml" | sed -e 's,^<Key>,,' -e 's,</Key>$,,' | while read -r key; do
      echo "${key#"$S3_PREFIX"}"
    done | grep '\.dump$' | sort -r || true
    rm -f "$BACKUP_DIR/.list.xml"
  }
  keep() {
    s3 "$(sha256sum "$1" | cut -d ' ' -f 1)" -T "$1" "$where$2"
    rm -f "$1"
  }
  drop() { s3 "$none" -X DELETE "$where$1"; }
  fetch() {
    s3 "$none" -o "$BACKUP_DIR/.restore.dump" "$where$1"
    echo "$BACKUP_DIR/.restore.dump"
  }
else
  where="$BACKUP_DIR/"
  dumps() { ls -1 -- "$BACKUP_DIR" | grep "^$prefix.*\.dump\$" | sort -r || true; }
  keep() { mv "$1" "$BACKUP_DIR/$2"; }
  drop() { rm -f -- "$BACKUP_DIR/$1"; }
  fetch() { echo "$BACKUP_DIR/$1"; }
fi
case $mode in
` + ModeBackup + `)
  rm -f "$BACKUP_DIR"/.*.partial
  name="$prefix$(date -u +%Y%m%dT%H%M%SZ).dump"
  pg_dump -Fc -f "$BACKUP_DIR/.$name.partial"
  size=$(wc -c < "$BACKUP_DIR/.$name.partial")
  keep "$BACKUP_DIR/.$name.partial" "$name"
  echo "wrote $where$name ($size bytes)"
  all=$(dumps)
  printf '%s\n' "$all" | tail -n +$((RETENTION + 1)) | while read -r old; do
    [ -n "$old" ] || continue
    drop "$old"
    echo "deleted $where$old"
  done
  ;;
` + ModeRestore + `)
  all=$(dumps)
  latest=$(printf '%s\n' "$all" | head -n 1)
  [ -n "$latest" ] || { echo "no dump of $PGDATABASE in $where" >&2; exit 1; }
  echo "restoring $where$latest"
  file=$(fetch "$latest")
  pg_restore --clean --if-exists --no-owner --exit-on-error -d "$PGDATABASE" "$file"
  echo "restored $where$latest"
  ;;
esac
`

// backup creates where the dumps go (a claim, or the S3 credentials Secret), the CronJob that makes
// them and the Job pods' egress policy, and returns the CronJob's name.
func (b *builder) backup(credentials *corev1.Secret, service *corev1.Service) (pulumi.StringOutput, error) {
	a := b.args
	env := corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String("PGHOST"), Value: service.Metadata.Name().Elem()},
		corev1.EnvVarArgs{Name: pulumi.String("PGPORT"), Value: pulumi.String(fmt.Sprint(Port))},
		corev1.EnvVarArgs{Name: pulumi.String("PGUSER"), Value: pulumi.String(a.User)},
		corev1.EnvVarArgs{Name: pulumi.String("PGDATABASE"), Value: pulumi.String(a.Database)},
		passwordEnv("PGPASSWORD", credentials),
		corev1.EnvVarArgs{Name: pulumi.String("BACKUP_DIR"), Value: pulumi.String(BackupMountPath)},
		corev1.EnvVarArgs{Name: pulumi.String("RETENTION"), Value: pulumi.String(fmt.Sprint(a.Backup.Retention))},
	}
	dumps, storage, err := b.backupStore(&env)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	if err := b.backupEgress(); err != nil {
		return pulumi.StringOutput{}, err
	}
	container := corev1.ContainerArgs{
		Name:            pulumi.String("backup"),
		Image:           pulumi.String(a.Image),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Command:         pulumi.ToStringArray([]string{"sh", "-c", BackupScript, "nexios-backup"}),
		Args:            pulumi.ToStringArray([]string{ModeBackup}),
		Env:             env,
		Resources: kube.Resources{
			Requests:         kube.ResourceList{CPU: "50m", Memory: "64Mi"},
			Limits:           kube.ResourceList{CPU: "500m", Memory: "256Mi"},
			EphemeralStorage: storage,
		}.Args(),
		SecurityContext: kube.RestrictedContainerSecurityContext(),
		VolumeMounts: corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String("backups"), MountPath: pulumi.String(BackupMountPath)},
			corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
		},
	}
	cronJob, err := batchv1.NewCronJob(b.ctx, b.name+"-backup", &batchv1.CronJobArgs{
		Metadata: b.meta(nameBackup),
		Spec: &batchv1.CronJobSpecArgs{
			Schedule: pulumi.String(a.Backup.Schedule),
			TimeZone: pulumi.String("Etc/UTC"),
			// Two dumps at once would race on the retention and double the load.
			ConcurrencyPolicy:          pulumi.String("Forbid"),
			SuccessfulJobsHistoryLimit: pulumi.Int(3),
			FailedJobsHistoryLimit:     pulumi.Int(3),
			// A run missed by more than an hour (a controller down) is skipped, not run late in a burst.
			StartingDeadlineSeconds: pulumi.Int(3600),
			JobTemplate: batchv1.JobTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: kube.StringMap(b.labels(nameBackup))},
				Spec: &batchv1.JobSpecArgs{
					BackoffLimit:          pulumi.Int(2),
					ActiveDeadlineSeconds: pulumi.Int(backupDeadlineSeconds),
					Template: &corev1.PodTemplateSpecArgs{
						Metadata: &metav1.ObjectMetaArgs{Labels: kube.StringMap(b.labels(nameBackup))},
						Spec: &corev1.PodSpecArgs{
							RestartPolicy:                pulumi.String("Never"),
							AutomountServiceAccountToken: pulumi.Bool(false),
							// The image's postgres user; fsGroup makes the backup claim writable by it.
							SecurityContext: kube.RestrictedPodSecurityContextAs(uid),
							Containers:      corev1.ContainerArray{container},
							Volumes: corev1.VolumeArray{
								corev1.VolumeArgs{Name: pulumi.String("backups"), PersistentVolumeClaim: dumps.claim, EmptyDir: dumps.scratch},
								corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(backupTmpSizeMax)}},
							},
						},
					},
				},
			},
		},
	}, b.child)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("creating backup cronjob: %w", err)
	}
	return cronJob.Metadata.Name().Elem(), nil
}

// dumpVolume is the backup Job's volume at BackupMountPath: the backup claim, or scratch space.
type dumpVolume struct {
	claim   corev1.PersistentVolumeClaimVolumeSourcePtrInput
	scratch corev1.EmptyDirVolumeSourcePtrInput
}

// backupStore makes where the dumps are kept and returns the Job's volume for them and its
// container's ephemeral storage, adding to env what the script needs to reach the store. The backup
// claim lives and dies with the cluster; a bucket outlives it.
func (b *builder) backupStore(env *corev1.EnvVarArray) (dumpVolume, kube.EphemeralStorage, error) {
	a := b.args
	s3 := a.Backup.S3
	if s3 == nil {
		claimSpec := &corev1.PersistentVolumeClaimSpecArgs{
			AccessModes: pulumi.StringArray{pulumi.String("ReadWriteOnce")},
			Resources:   &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String(a.Backup.StorageSize)}},
		}
		if a.StorageClass != "" {
			claimSpec.StorageClassName = pulumi.String(a.StorageClass)
		}
		claim, err := corev1.NewPersistentVolumeClaim(b.ctx, b.name+"-backups", &corev1.PersistentVolumeClaimArgs{
			Metadata: b.meta(nameBackup),
			Spec:     claimSpec,
		}, b.child)
		if err != nil {
			return dumpVolume{}, kube.EphemeralStorage{}, fmt.Errorf("creating backup volume claim: %w", err)
		}
		return dumpVolume{claim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: claim.Metadata.Name().Elem()}}, kube.SmallEphemeralStorage, nil
	}
	keys, err := corev1.NewSecret(b.ctx, b.name+"-backup-s3", &corev1.SecretArgs{
		Metadata: b.meta(nameBackup),
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			s3KeyID:     pulumi.ToSecret(s3.AccessKeyID).(pulumi.StringOutput),
			s3KeySecret: pulumi.ToSecret(s3.SecretAccessKey).(pulumi.StringOutput),
		},
	}, b.child)
	if err != nil {
		return dumpVolume{}, kube.EphemeralStorage{}, fmt.Errorf("creating backup bucket credentials secret: %w", err)
	}
	for _, key := range []string{s3KeyID, s3KeySecret} {
		*env = append(*env, corev1.EnvVarArgs{
			Name:      pulumi.String(key),
			ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: keys.Metadata.Name(), Key: pulumi.String(key)}},
		})
	}
	for _, v := range [][2]string{{"S3_ENDPOINT", strings.TrimSuffix(s3.Endpoint, "/")}, {"S3_BUCKET", s3.Bucket}, {"S3_PREFIX", s3.Prefix}, {"S3_REGION", s3.Region}} {
		*env = append(*env, corev1.EnvVarArgs{Name: pulumi.String(v[0]), Value: pulumi.String(v[1])})
	}
	// A dump is written whole before its upload, so the scratch volume, which counts against the
	// container's ephemeral storage, must hold the largest dump: Backup.StorageSize.
	size, _ := kube.ParseQuantity(a.Backup.StorageSize)
	small, _ := kube.ParseQuantity(kube.SmallEphemeralStorage.Limit)
	storage := kube.EphemeralStorage{Request: kube.SmallEphemeralStorage.Request, Limit: strconv.FormatInt(int64(size+small), 10)}
	return dumpVolume{scratch: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(a.Backup.StorageSize)}}, storage, nil
}
