package devcluster

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Workloads prints, for each workload with pods (the system's own in
// kube-system left out), whether its containers run for real on the real
// node or are simulated by kwok, and how many of its pods are Ready.
func Workloads(ctx context.Context, o Options, out io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	client, err := o.client()
	if err != nil {
		return err
	}
	pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("cluster %q: list pods: %w", o.Name, err)
	}
	type workload struct {
		real, simulated, ready, total int
	}
	workloads := map[string]*workload{}
	for _, pod := range pods.Items {
		if pod.Namespace == coreDNSNamespace || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		key := pod.Namespace + "/" + workloadName(&pod)
		w := workloads[key]
		if w == nil {
			w = &workload{}
			workloads[key] = w
		}
		w.total++
		switch {
		case pod.Spec.NodeName == o.realNodeName():
			w.real++
		case pod.Spec.NodeName != "":
			w.simulated++
		}
		if podReady(&pod) {
			w.ready++
		}
	}
	if len(workloads) == 0 {
		fmt.Fprintf(out, "cluster %q runs no workloads\n", o.Name)
		return nil
	}
	fmt.Fprintf(out, "workloads on cluster %q (real: containers run on %s; simulated: kwok reports them Running, no container runs):\n", o.Name, o.realNodeName())
	for _, key := range slices.Sorted(maps.Keys(workloads)) {
		w := workloads[key]
		var where []string
		if w.real > 0 {
			where = append(where, fmt.Sprintf("%d real", w.real))
		}
		if w.simulated > 0 {
			where = append(where, fmt.Sprintf("%d simulated", w.simulated))
		}
		if pending := w.total - w.real - w.simulated; pending > 0 {
			where = append(where, fmt.Sprintf("%d unscheduled", pending))
		}
		fmt.Fprintf(out, "  %-60s %d/%d ready  %s\n", key, w.ready, w.total, strings.Join(where, ", "))
	}
	return nil
}

// workloadName names the pod's controller: a Deployment's pods through their
// ReplicaSet's name less its template hash.
func workloadName(pod *corev1.Pod) string {
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return pod.Name
	}
	if hash := pod.Labels["pod-template-hash"]; owner.Kind == "ReplicaSet" && hash != "" {
		return strings.TrimSuffix(owner.Name, "-"+hash)
	}
	return owner.Name
}

func podReady(pod *corev1.Pod) bool { return podReadySince(pod, time.Time{}) }
