package devcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func TestKwokctlConfigEnablesVolumeProvisioning(t *testing.T) {
	data, err := withBinaries(t, kwokctlBinaries...).kwokctlConfigYAML()
	if err != nil {
		t.Fatalf("kwokctlConfigYAML(): %v", err)
	}
	var got kwokctlConfiguration
	if err := yaml.UnmarshalStrict(data, &got); err != nil {
		t.Fatalf("parse %s: %v", data, err)
	}
	want := componentPatch{Name: "kube-controller-manager", ExtraArgs: []extraArg{{Key: "enable-hostpath-provisioner", Value: "true"}}}
	if len(got.ComponentsPatches) != 1 || !reflect.DeepEqual(got.ComponentsPatches[0], want) {
		t.Errorf("componentsPatches %+v, want only %+v", got.ComponentsPatches, want)
	}
}

func TestProvisionedDir(t *testing.T) {
	provisioned := map[string]string{createdByAnnotation: createdByHostPath}
	tests := []struct {
		name        string
		annotations map[string]string
		path        string
		wantDir     string
	}{
		{name: "made by the provisioner", annotations: provisioned, path: "/tmp/hostpath_pv/0b5e", wantDir: "/tmp/hostpath_pv/0b5e"},
		{name: "made by hand", path: "/tmp/hostpath_pv/0b5e"},
		{name: "the root itself", annotations: provisioned, path: "/tmp/hostpath_pv"},
		{name: "outside the root", annotations: provisioned, path: "/var/lib/data"},
		{name: "escaping the root", annotations: provisioned, path: "/tmp/hostpath_pv/../etc"},
		{name: "below a volume", annotations: provisioned, path: "/tmp/hostpath_pv/0b5e/sub"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pv := &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{Annotations: tt.annotations},
				Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
					HostPath: &corev1.HostPathVolumeSource{Path: tt.path},
				}},
			}
			dir, ok := provisionedDir(pv)
			if dir != tt.wantDir || ok != (tt.wantDir != "") {
				t.Errorf("provisionedDir(%q) = %q, %t; want %q", tt.path, dir, ok, tt.wantDir)
			}
		})
	}
}

func TestWarnIfOutdated(t *testing.T) {
	o := withBinaries(t, kwokctlBinaries...)
	o.StateDir = t.TempDir()
	current, err := o.kwokctlConfigYAML()
	if err != nil {
		t.Fatalf("kwokctlConfigYAML(): %v", err)
	}
	for name, saved := range map[string][]byte{
		"current":                  current,
		"before volume claims":     bytes.Replace(current, []byte("enable-hostpath-provisioner"), []byte("other"), 1),
		"no saved configuration":   nil,
		"saved configuration lost": []byte{},
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.MkdirAll(o.Dir(), 0o755); err != nil {
				t.Fatal(err)
			}
			os.Remove(o.kwokctlConfig())
			if saved != nil {
				if err := os.WriteFile(o.kwokctlConfig(), saved, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var log strings.Builder
			o.warnIfOutdated(&log)
			wantWarning := name != "current"
			if got := strings.Contains(log.String(), "make cluster-down cluster CLUSTER=nexios"); got != wantWarning {
				t.Errorf("warning printed: %t, want %t; log: %q", got, wantWarning, log.String())
			}
		})
	}
}

// TestVolumeClaimBinds starts a real one-node cluster from bin/ and checks
// that a claim naming no class gets the default StorageClass and is bound
// once its pod is scheduled, that a restart keeps the class and the volume,
// and that Down removes the volume's directory.
func TestVolumeClaimBinds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped under -short")
	}
	o := clusterOptions(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log bytes.Buffer
	t.Cleanup(func() {
		if err := Down(context.Background(), o, &log); err != nil {
			t.Errorf("Down: %v", err)
		}
	})
	if err := Up(ctx, o, &log); err != nil {
		t.Fatalf("Up: %v\n%s%s", err, log.String(), componentLogs(o))
	}
	client, err := o.client()
	if err != nil {
		t.Fatal(err)
	}

	class, err := client.StorageV1().StorageClasses().Get(ctx, storageClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the default StorageClass: %v", err)
	}
	if class.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" || class.Provisioner != hostPathProvisioner ||
		*class.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		t.Errorf("StorageClass %s: annotations %v, provisioner %s, binding %s", class.Name, class.Annotations, class.Provisioner, *class.VolumeBindingMode)
	}

	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("1Gi"),
			}},
		},
	}
	if _, err := client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create claim: %v", err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "consumer", Namespace: "default"},
		Spec: corev1.PodSpec{
			// kwok runs no containers, so the image is never pulled.
			Containers: []corev1.Container{{Name: "app", Image: "busybox"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name},
			}}},
		},
	}
	// Admission refuses pods until kube-controller-manager has made the
	// namespace's default ServiceAccount, a moment after start.
	for {
		_, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("create pod: %v", err)
		case <-time.After(pollInterval):
		}
	}
	dir := waitBound(ctx, t, o, claim.Name)
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the volume's directory: %v", err)
	}

	// A cluster stopped (as by a reboot) and started again keeps its class
	// and its volumes: both live in etcd.
	if err := o.kwokctl(ctx, "stop", "cluster"); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	if err := Up(ctx, o, &log); err != nil {
		t.Fatalf("Up after stop: %v\n%s%s", err, log.String(), componentLogs(o))
	}
	if !strings.Contains(log.String(), "starting it") || strings.Contains(log.String(), "another configuration") {
		t.Errorf("Up after stop printed %q, want a plain start", log.String())
	}
	restarted, err := client.StorageV1().StorageClasses().Get(ctx, storageClassName, metav1.GetOptions{})
	if err != nil || restarted.UID != class.UID {
		t.Errorf("StorageClass after restart: %v (UID %s, want %s)", err, restarted.GetUID(), class.UID)
	}
	if again := waitBound(ctx, t, o, claim.Name); again != dir {
		t.Errorf("after restart the claim's directory is %s, want %s", again, dir)
	}

	if err := Down(ctx, o, &log); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the volume's directory %s after Down: %v, want it removed", dir, err)
	}
}

// waitBound waits for the claim to be Bound and returns its volume's
// directory.
func waitBound(ctx context.Context, t *testing.T, o Options, name string) string {
	t.Helper()
	client, err := o.client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		claim, err := client.CoreV1().PersistentVolumeClaims("default").Get(ctx, name, metav1.GetOptions{})
		var phase corev1.PersistentVolumeClaimPhase
		if err == nil {
			phase = claim.Status.Phase
		}
		if phase == corev1.ClaimBound {
			pv, err := client.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get volume %s: %v", claim.Spec.VolumeName, err)
			}
			dir, ok := provisionedDir(pv)
			if !ok {
				t.Fatalf("volume %s was not made by the hostPath provisioner: %+v", pv.Name, pv.Spec.PersistentVolumeSource)
			}
			return dir
		}
		select {
		case <-ctx.Done():
			t.Fatalf("claim %s not Bound (phase %q, last error %v)", name, phase, err)
		case <-time.After(pollInterval):
		}
	}
}

// clusterOptions aims at the project's bin/, where `make tools` builds the
// control plane. Missing binaries skip the test, unless the run asked for the
// cluster tests (CI, or NEXIOS_E2E=1 as `make e2e` sets), where they fail it.
func clusterOptions(t *testing.T) Options {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "..", "..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append([]string{"kwokctl"}, kwokctlBinaries...) {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			if os.Getenv("CI") != "" || os.Getenv("NEXIOS_E2E") == "1" {
				t.Fatalf("%v; run `make tools`", err)
			}
			t.Skipf("%v; run `make tools` (set NEXIOS_E2E=1 to make this a failure)", err)
		}
	}
	o := validOptions()
	o.Name = "devcluster-storage"
	o.StateDir = t.TempDir()
	o.BinDir = bin
	// One node is all a claim needs, and the cluster starts faster.
	o.Nodes = 1
	o.Timeout = 2 * time.Minute
	return o
}

// componentLogs returns the end of each control plane component's log, which
// is all that explains a start that never got Ready.
func componentLogs(o Options) string {
	paths, _ := filepath.Glob(filepath.Join(o.kwokClusterDir(), "logs", "*.log"))
	var b strings.Builder
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", path, err)
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(path), strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}
