package database

import (
	"fmt"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

const (
	// BackupMountPath is where the backup claim is mounted in the backup Job (and where a restore
	// Job mounts it: docs/disaster-recovery.md).
	BackupMountPath = "/backups"
	// backupTmpSizeMax bounds the Job's /tmp, which pg_dump does not use beyond a few files.
	backupTmpSizeMax = "16Mi"
	// backupDeadlineSeconds stops a hung dump before the next one is due on an hourly schedule.
	backupDeadlineSeconds = 3000
)

// BackupScript dumps the database in pg_dump's custom format (`pg_dump -Fc`, read by pg_restore) to
// $BACKUP_DIR/$PGDATABASE-<UTC timestamp>.dump, then deletes all but the newest $RETENTION dumps. It
// writes under a dot-name first and renames the complete dump, so a dump cut short is never taken for
// a backup, and removes what an interrupted run left; the CronJob's Forbid policy means no other run
// writes meanwhile. The timestamps sort by name in time order. It is POSIX sh (Debian's is dash).
const BackupScript = `set -eu
cd "$BACKUP_DIR"
rm -f .*.partial
stamp=$(date -u +%Y%m%dT%H%M%SZ)
name="$PGDATABASE-$stamp.dump"
pg_dump -Fc -f ".$name.partial"
mv ".$name.partial" "$name"
echo "wrote $name ($(wc -c < "$name") bytes)"
ls -1 -- "$PGDATABASE"-*.dump | sort -r | tail -n +$((RETENTION + 1)) | while read -r old; do
  rm -f -- "$old"
  echo "deleted $old"
done
`

// backup creates the backup claim, the CronJob that fills it and the Job pods' egress policy, and
// returns the CronJob's name.
func (b *builder) backup(credentials *corev1.Secret, service *corev1.Service) (pulumi.StringOutput, error) {
	a := b.args
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
		return pulumi.StringOutput{}, fmt.Errorf("creating backup volume claim: %w", err)
	}
	if err := b.backupEgress(); err != nil {
		return pulumi.StringOutput{}, err
	}
	env := corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String("PGHOST"), Value: service.Metadata.Name().Elem()},
		corev1.EnvVarArgs{Name: pulumi.String("PGPORT"), Value: pulumi.String(fmt.Sprint(Port))},
		corev1.EnvVarArgs{Name: pulumi.String("PGUSER"), Value: pulumi.String(a.User)},
		corev1.EnvVarArgs{Name: pulumi.String("PGDATABASE"), Value: pulumi.String(a.Database)},
		passwordEnv("PGPASSWORD", credentials),
		corev1.EnvVarArgs{Name: pulumi.String("BACKUP_DIR"), Value: pulumi.String(BackupMountPath)},
		corev1.EnvVarArgs{Name: pulumi.String("RETENTION"), Value: pulumi.String(fmt.Sprint(a.Backup.Retention))},
	}
	container := corev1.ContainerArgs{
		Name:            pulumi.String("backup"),
		Image:           pulumi.String(a.Image),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Command:         pulumi.ToStringArray([]string{"sh", "-c", BackupScript}),
		Env:             env,
		Resources: kube.Resources{
			Requests:         kube.ResourceList{CPU: "50m", Memory: "64Mi"},
			Limits:           kube.ResourceList{CPU: "500m", Memory: "256Mi"},
			EphemeralStorage: kube.SmallEphemeralStorage,
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
								corev1.VolumeArgs{Name: pulumi.String("backups"), PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{
									ClaimName: claim.Metadata.Name().Elem(),
								}},
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
