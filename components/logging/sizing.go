package logging

import (
	"fmt"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Footprint is a CPU request in cores and a memory request in bytes.
type Footprint struct {
	CPU, Memory float64
}

func (f Footprint) plus(g Footprint) Footprint { return Footprint{f.CPU + g.CPU, f.Memory + g.Memory} }

func (f Footprint) times(n int) Footprint {
	return Footprint{f.CPU * float64(n), f.Memory * float64(n)}
}

// String prints cores and GiB, as the README's sizing table does.
func (f Footprint) String() string {
	return fmt.Sprintf("%.2f CPU, %.2f GiB", f.CPU, f.Memory/(1<<30))
}

// Sizing is what the stack's long-running pods request: Elasticsearch and Kibana in total, Fluent Bit
// per node. The setup Job and the init containers finish, and a pod's request is the larger of its
// init and regular containers', so they add nothing.
type Sizing struct {
	Elasticsearch, Kibana, FluentBitPerNode Footprint
}

// Total is the stack's request on a cluster of nodes.
func (s Sizing) Total(nodes int) Footprint {
	return s.Elasticsearch.plus(s.Kibana).plus(s.FluentBitPerNode.times(nodes))
}

// SizingOf computes the requests from the same arguments, defaults included, that NewLogging deploys.
func SizingOf(args LoggingArgs) (Sizing, error) {
	a := args.withDefaults()
	es, err := requests(a.Elasticsearch.Resources)
	if err != nil {
		return Sizing{}, fmt.Errorf("elasticsearch: %w", err)
	}
	kb, err := requests(a.Kibana.Resources)
	if err != nil {
		return Sizing{}, fmt.Errorf("kibana: %w", err)
	}
	fb, err := requests(a.FluentBit.Resources)
	if err != nil {
		return Sizing{}, fmt.Errorf("fluent bit: %w", err)
	}
	return Sizing{Elasticsearch: es.times(a.Elasticsearch.Replicas), Kibana: kb.times(a.Kibana.Replicas), FluentBitPerNode: fb}, nil
}

func requests(r kube.Resources) (Footprint, error) {
	cpu, err := kube.ParseQuantity(r.Requests.CPU)
	if err != nil {
		return Footprint{}, err
	}
	memory, err := kube.ParseQuantity(r.Requests.Memory)
	if err != nil {
		return Footprint{}, err
	}
	return Footprint{CPU: cpu, Memory: memory}, nil
}
