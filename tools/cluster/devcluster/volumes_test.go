package devcluster

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func waitingClaim(name string, annotations map[string]string) *corev1.PersistentVolumeClaim {
	class := storageClassName
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "monitoring", UID: types.UID("uid-" + name), Annotations: annotations},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("2Gi"),
			}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
}

func TestReconcileVolumesProvisions(t *testing.T) {
	placed := map[string]string{annStorageProvisioner: localVolumeProvisioner, annSelectedNode: "real-node"}
	tests := []struct {
		name      string
		claim     *corev1.PersistentVolumeClaim
		wantMade  bool
		wantError bool
	}{
		{name: "a claim placed on a node gets a local volume there", claim: waitingClaim("placed", placed), wantMade: true},
		{name: "a claim whose pod is not placed yet waits",
			claim: waitingClaim("unplaced", map[string]string{annStorageProvisioner: localVolumeProvisioner})},
		{name: "another provisioner's claim is left alone",
			claim: waitingClaim("other", map[string]string{annStorageProvisioner: hostPathProvisioner, annSelectedNode: "real-node"})},
		{name: "a bound claim is left alone", claim: func() *corev1.PersistentVolumeClaim {
			c := waitingClaim("bound", placed)
			c.Status.Phase, c.Spec.VolumeName = corev1.ClaimBound, "pvc-x"
			return c
		}()},
		{name: "a claim of a missing StorageClass is an error, and makes nothing", claim: func() *corev1.PersistentVolumeClaim {
			c := waitingClaim("classless", placed)
			missing := "missing"
			c.Spec.StorageClassName = &missing
			return c
		}(), wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			client := fake.NewClientset(tt.claim, storageClass(localVolumeProvisioner))
			err := reconcileVolumes(context.Background(), client, dir, io.Discard)
			if (err != nil) != tt.wantError {
				t.Fatalf("reconcile: error %v, want error %v", err, tt.wantError)
			}
			volumes, err := client.CoreV1().PersistentVolumes().List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantMade {
				if len(volumes.Items) != 0 {
					t.Fatalf("made %d volumes, want none", len(volumes.Items))
				}
				return
			}
			if len(volumes.Items) != 1 {
				t.Fatalf("made %d volumes, want 1", len(volumes.Items))
			}
			pv := volumes.Items[0]
			wantPath := filepath.Join(dir, "pvc-uid-placed")
			if pv.Name != "pvc-uid-placed" || pv.Spec.Local == nil || pv.Spec.Local.Path != wantPath {
				t.Errorf("volume %s with source %+v, want pvc-uid-placed, local at %s", pv.Name, pv.Spec.PersistentVolumeSource, wantPath)
			}
			if info, err := os.Stat(wantPath); err != nil || info.Mode().Perm() != 0o777 {
				t.Errorf("volume folder: %v, mode %v; want a folder of mode 0777", err, info)
			}
			if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.String() != "2Gi" {
				t.Errorf("capacity %s, want the claim's 2Gi", got.String())
			}
			ref := pv.Spec.ClaimRef
			if ref == nil || ref.Namespace != "monitoring" || ref.Name != "placed" || ref.UID != "uid-placed" {
				t.Errorf("claimRef %+v, want the claim", ref)
			}
			terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
			if len(terms) != 1 || terms[0].MatchExpressions[0].Values[0] != "real-node" {
				t.Errorf("node affinity %+v, want the selected node real-node", terms)
			}
			if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Annotations[annProvisionedBy] != localVolumeProvisioner {
				t.Errorf("reclaim %s, annotations %v: want Delete, from the class, and marked as ours", pv.Spec.PersistentVolumeReclaimPolicy, pv.Annotations)
			}
			// A second pass finds the volume made and makes no other.
			if err := reconcileVolumes(context.Background(), client, dir, io.Discard); err != nil {
				t.Fatalf("second pass: %v", err)
			}
		})
	}
}

func TestReconcileVolumesDeletes(t *testing.T) {
	volume := func(name, provisioner, path string, phase corev1.PersistentVolumePhase, reclaim corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annProvisionedBy: provisioner}},
			Spec: corev1.PersistentVolumeSpec{
				PersistentVolumeReclaimPolicy: reclaim,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}},
			},
			Status: corev1.PersistentVolumeStatus{Phase: phase},
		}
	}
	tests := []struct {
		name        string
		provisioner string
		phase       corev1.PersistentVolumePhase
		reclaim     corev1.PersistentVolumeReclaimPolicy
		outside     bool
		wantGone    bool
		wantDirGone bool
	}{
		{name: "a released volume of ours goes, with its folder", provisioner: localVolumeProvisioner,
			phase: corev1.VolumeReleased, reclaim: corev1.PersistentVolumeReclaimDelete, wantGone: true, wantDirGone: true},
		{name: "a bound volume stays", provisioner: localVolumeProvisioner,
			phase: corev1.VolumeBound, reclaim: corev1.PersistentVolumeReclaimDelete},
		{name: "a retained volume stays", provisioner: localVolumeProvisioner,
			phase: corev1.VolumeReleased, reclaim: corev1.PersistentVolumeReclaimRetain},
		{name: "another provisioner's volume stays", provisioner: hostPathProvisioner,
			phase: corev1.VolumeReleased, reclaim: corev1.PersistentVolumeReclaimDelete},
		{name: "a volume of ours whose path is elsewhere goes, its folder stays", provisioner: localVolumeProvisioner,
			phase: corev1.VolumeReleased, reclaim: corev1.PersistentVolumeReclaimDelete, outside: true, wantGone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "pvc-1")
			if tt.outside {
				path = filepath.Join(t.TempDir(), "pvc-1")
			}
			if err := os.MkdirAll(filepath.Join(path, "wal"), 0o755); err != nil {
				t.Fatal(err)
			}
			client := fake.NewClientset([]runtime.Object{volume("pvc-1", tt.provisioner, path, tt.phase, tt.reclaim)}...)
			if err := reconcileVolumes(context.Background(), client, dir, io.Discard); err != nil {
				t.Fatalf("reconcile: %v", err)
			}
			volumes, err := client.CoreV1().PersistentVolumes().List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if gone := len(volumes.Items) == 0; gone != tt.wantGone {
				t.Errorf("volume gone: %v, want %v", gone, tt.wantGone)
			}
			_, err = os.Stat(path)
			if dirGone := os.IsNotExist(err); dirGone != tt.wantDirGone {
				t.Errorf("folder gone: %v, want %v", dirGone, tt.wantDirGone)
			}
		})
	}
}
