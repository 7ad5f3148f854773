package monitoring

import (
	"fmt"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// WorkloadSize is what one workload's pods request together: CPU in cores, memory in bytes.
type WorkloadSize struct {
	Name        string
	Replicas    int
	CPU, Memory float64
}

// Sizing is what the bundled stack requests, workload by workload, in deployment order.
type Sizing []WorkloadSize

// Total adds the workloads up.
func (s Sizing) Total() (cpu, memory float64) {
	for _, w := range s {
		cpu += w.CPU
		memory += w.Memory
	}
	return cpu, memory
}

// FormatRequests prints cores and GiB, as the README's sizing table does.
func FormatRequests(cpu, memory float64) string {
	return fmt.Sprintf("%.2f CPU, %.2f GiB", cpu, memory/(1<<30))
}

// SizingOf computes the requests from the same arguments, defaults included, that NewMonitoring
// deploys. Operator mode deploys no workload and requests nothing.
func SizingOf(args MonitoringArgs) (Sizing, error) {
	a := args.withDefaults()
	if a.Mode == Operator {
		return Sizing{}, nil
	}
	type workload struct {
		name      string
		replicas  int
		resources kube.Resources
	}
	workloads := []workload{
		{namePrometheus, 1, a.Prometheus.Resources},
		{nameAlertmanager, a.Alertmanager.Replicas, a.Alertmanager.Resources},
		{nameKubeStateMetrics, 1, a.KubeStateMetrics},
		{nameGrafana, 1, a.Grafana.Resources},
	}
	if a.ServesScalingMetrics() {
		workloads = append(workloads, workload{nameAdapter, a.Adapter.Replicas, a.Adapter.Resources})
	}
	var s Sizing
	for _, w := range workloads {
		cpu, err := kube.ParseQuantity(w.resources.Requests.CPU)
		if err != nil {
			return nil, fmt.Errorf("%s cpu request: %w", w.name, err)
		}
		memory, err := kube.ParseQuantity(w.resources.Requests.Memory)
		if err != nil {
			return nil, fmt.Errorf("%s memory request: %w", w.name, err)
		}
		s = append(s, WorkloadSize{Name: w.name, Replicas: w.replicas, CPU: cpu * float64(w.replicas), Memory: memory * float64(w.replicas)})
	}
	return s, nil
}
