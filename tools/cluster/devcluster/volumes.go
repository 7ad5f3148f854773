package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// A cluster with a real node provisions its volumes as `local` volumes in
// folders of the cluster's state, not as the hostPath volumes of
// kube-controller-manager's provisioner: the kubelet applies a pod's fsGroup
// to a local volume and never to a hostPath one, so a non-root workload
// (Prometheus as 65534) can write to its claim only on a local volume, as it
// can on a cloud disk. The provisioner is a small loop of its own rather than
// sig-storage-lib-external-provisioner, whose module would move the control
// plane's dependencies (built in this module) off Kubernetes 1.37.2's pins.
const (
	// localVolumeProvisioner is the StorageClass provisioner the loop serves.
	localVolumeProvisioner = "nexios.dev/local-volume"
	// daemonVolumes is the real node's daemon running the loop.
	daemonVolumes = "volumes"
	// The annotations the PV controller and the scheduler set on a claim
	// waiting for a volume, and the one marking the volumes made here.
	annStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	annSelectedNode       = "volume.kubernetes.io/selected-node"
	annProvisionedBy      = "pv.kubernetes.io/provisioned-by"
	// volumeInterval is how often the loop looks for work: a claim waits at
	// most this long, and the cluster is small enough to list every time.
	volumeInterval = 2 * time.Second
)

// volumesDir holds one folder per provisioned volume, removed with the
// state; absolute, as a local volume's path must be.
func (o Options) volumesDir() string {
	dir := filepath.Join(o.nodeDir(), "volumes")
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// provisionerName is the provisioner of a new cluster's default StorageClass.
func (o Options) provisionerName() string {
	if o.RealNodes > 0 {
		return localVolumeProvisioner
	}
	// kwok runs no containers, so nothing ever writes into a volume.
	return hostPathProvisioner
}

// ServeVolumes provisions and deletes the cluster's local volumes until ctx
// ends. It runs as a daemon of the real node (see startRealNode).
func ServeVolumes(ctx context.Context, o Options, log io.Writer) error {
	config, err := clientcmd.BuildConfigFromFlags("", o.nodeKubeconfig())
	if err != nil {
		return fmt.Errorf("load %s: %w", o.nodeKubeconfig(), err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("client for %s: %w", o.nodeKubeconfig(), err)
	}
	if err := os.MkdirAll(o.volumesDir(), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", o.volumesDir(), err)
	}
	fmt.Fprintf(log, "provisioning %s volumes in %s\n", localVolumeProvisioner, o.volumesDir())
	ticker := time.NewTicker(volumeInterval)
	defer ticker.Stop()
	for {
		// A failed pass is retried on the next tick, like a controller's requeue.
		if err := reconcileVolumes(ctx, client, o.volumesDir(), log); err != nil {
			fmt.Fprintf(log, "volumes: %v\n", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// reconcileVolumes makes a volume for every claim waiting on this provisioner
// whose pod the scheduler has placed, and deletes the released volumes it
// made whose reclaim policy is Delete.
func reconcileVolumes(ctx context.Context, client kubernetes.Interface, dir string, log io.Writer) error {
	claims, err := client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list PersistentVolumeClaims: %w", err)
	}
	var errs []error
	for i := range claims.Items {
		claim := &claims.Items[i]
		if claim.Status.Phase != corev1.ClaimPending || claim.Spec.VolumeName != "" ||
			claim.Annotations[annStorageProvisioner] != localVolumeProvisioner || claim.Annotations[annSelectedNode] == "" {
			continue
		}
		if err := provisionVolume(ctx, client, dir, claim); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(log, "provisioned %s for %s/%s on %s\n", volumeName(claim), claim.Namespace, claim.Name, claim.Annotations[annSelectedNode])
	}
	volumes, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list PersistentVolumes: %w", err))...)
	}
	for i := range volumes.Items {
		pv := &volumes.Items[i]
		if pv.Annotations[annProvisionedBy] != localVolumeProvisioner || pv.Status.Phase != corev1.VolumeReleased ||
			pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
			continue
		}
		if err := deleteVolume(ctx, client, dir, pv); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(log, "deleted %s\n", pv.Name)
	}
	return errors.Join(errs...)
}

// volumeName is the name the hostPath and the CSI provisioners give a claim's
// volume too, so a retried pass finds the volume it made.
func volumeName(claim *corev1.PersistentVolumeClaim) string { return "pvc-" + string(claim.UID) }

func provisionVolume(ctx context.Context, client kubernetes.Interface, dir string, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.StorageClassName == nil {
		return fmt.Errorf("claim %s/%s names no StorageClass", claim.Namespace, claim.Name)
	}
	class, err := client.StorageV1().StorageClasses().Get(ctx, *claim.Spec.StorageClassName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("StorageClass of claim %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	size, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return fmt.Errorf("claim %s/%s requests no storage", claim.Namespace, claim.Name)
	}
	name := volumeName(claim)
	path := filepath.Join(dir, name)
	// World-writable like a fresh filesystem's root before the kubelet hands
	// it to the pod's fsGroup: the kubelet changes its group, not its owner.
	if err := os.MkdirAll(path, 0o777); err != nil {
		return fmt.Errorf("create volume folder %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o777); err != nil {
		return fmt.Errorf("make volume folder %s writable: %w", path, err)
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	mode := corev1.PersistentVolumeFilesystem
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{annProvisionedBy: localVolumeProvisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			VolumeMode:                    &mode,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}},
			// A local volume lives on one node: the one the scheduler chose.
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{claim.Annotations[annSelectedNode]},
				}}}},
			}},
		},
	}
	_, err = client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create PersistentVolume %s for claim %s/%s: %w", name, claim.Namespace, claim.Name, err)
	}
	return nil
}

// deleteVolume removes a released volume's folder, then the volume. Only a
// folder of its own, directly under dir, is ever removed.
func deleteVolume(ctx context.Context, client kubernetes.Interface, dir string, pv *corev1.PersistentVolume) error {
	if pv.Spec.Local != nil && filepath.Dir(filepath.Clean(pv.Spec.Local.Path)) == filepath.Clean(dir) {
		if err := os.RemoveAll(pv.Spec.Local.Path); err != nil {
			return fmt.Errorf("remove the folder of PersistentVolume %s: %w", pv.Name, err)
		}
	}
	err := client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete PersistentVolume %s: %w", pv.Name, err)
	}
	return nil
}
