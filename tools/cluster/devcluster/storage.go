package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	// storageClassName is the cluster's default StorageClass: claims that
	// name no class get it, as they get a cloud provider's default.
	storageClassName = "standard"
	// hostPathProvisioner is kube-controller-manager's built-in hostPath
	// provisioner, enabled by the kwokctl configuration (kwokctl.go).
	hostPathProvisioner = "kubernetes.io/host-path"
	// hostPathVolumeRoot is where that provisioner makes one directory per
	// volume. It is fixed in its code (pkg/volume/hostpath: "/tmp/%s/%s"
	// with "hostpath_pv"), and no flag moves it into the cluster's state
	// folder, so Down removes this cluster's directories itself.
	hostPathVolumeRoot = "/tmp/hostpath_pv"
	// createdByAnnotation marks volumes the hostPath provisioner made; a
	// hostPath volume someone created by hand is never removed.
	createdByAnnotation = "kubernetes.io/createdby"
	createdByHostPath   = "hostpath-dynamic-provisioner"
)

// storageClass is the default StorageClass. WaitForFirstConsumer, like the
// default classes of the big cloud providers, so a claim is provisioned only
// once the scheduler has placed its pod and the scheduler's volume binding
// runs as it does in production; kube-scheduler handles that for kwok's
// simulated nodes like any other. Delete, so a deleted claim's directory is
// removed by the provisioner rather than piling up. The provisioner is
// kube-controller-manager's hostPath one on simulated nodes, and the real
// node's local volumes where containers write (volumes.go).
func storageClass(provisioner string) *storagev1.StorageClass {
	reclaim := corev1.PersistentVolumeReclaimDelete
	binding := storagev1.VolumeBindingWaitForFirstConsumer
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        storageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       provisioner,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &binding,
	}
}

// ensureStorageClass creates the default StorageClass unless it exists, so a
// restarted cluster keeps the one it has.
func ensureStorageClass(ctx context.Context, client kubernetes.Interface, provisioner string) error {
	_, err := client.StorageV1().StorageClasses().Create(ctx, storageClass(provisioner), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass %s: %w", storageClassName, err)
	}
	return nil
}

// removeVolumeDirs removes the directories the hostPath provisioner made for
// this cluster's volumes, which live outside its state folder (see
// hostPathVolumeRoot). Only the running cluster can say which are its own:
// other clusters on this machine share the root, so a stopped cluster's are
// left, and Down says so.
func (o Options) removeVolumeDirs(ctx context.Context, log io.Writer) error {
	state, err := Status(ctx, o)
	if err != nil {
		return err
	}
	switch state {
	case Running:
		client, err := o.client()
		if err != nil {
			return err
		}
		return removeProvisionedDirs(ctx, client, log)
	case Stopped:
		// kwok runs no containers, so nothing ever writes into them: they
		// are empty directories.
		fmt.Fprintf(log, "cluster %q is stopped: the directories its volumes had in %s, if any, are left there\n",
			o.Name, hostPathVolumeRoot)
	}
	return nil
}

// removeProvisionedDirs removes the directory of every volume of the cluster
// the hostPath provisioner made.
func removeProvisionedDirs(ctx context.Context, client kubernetes.Interface, log io.Writer) error {
	volumes, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list PersistentVolumes: %w", err)
	}
	var errs []error
	removed := 0
	for _, pv := range volumes.Items {
		dir, ok := provisionedDir(&pv)
		if !ok {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove directory of PersistentVolume %s: %w", pv.Name, err))
			continue
		}
		removed++
	}
	if removed > 0 {
		fmt.Fprintf(log, "removed %d volume directories from %s\n", removed, hostPathVolumeRoot)
	}
	return errors.Join(errs...)
}

// provisionedDir returns the directory of a volume the hostPath provisioner
// made, and false for any other volume or a path outside its root, which is
// never removed.
func provisionedDir(pv *corev1.PersistentVolume) (string, bool) {
	if pv.Annotations[createdByAnnotation] != createdByHostPath || pv.Spec.HostPath == nil {
		return "", false
	}
	dir := filepath.Clean(pv.Spec.HostPath.Path)
	if filepath.Dir(dir) != hostPathVolumeRoot {
		return "", false
	}
	return dir, true
}
