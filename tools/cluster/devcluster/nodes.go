package devcluster

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// simulatedNodeDisk is each simulated node's ephemeral storage, a common
// large node disk, room for the prod profile's 100Gi Elasticsearch emptyDirs.
var simulatedNodeDisk = resource.MustParse("1Ti")

// kwokNodeAnnotation marks the nodes kwok-controller simulates.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// nodes returns the simulated nodes to create, dealt round-robin over the
// zones so each zone gets a share as even as the count allows.
func (o Options) nodes() ([]*corev1.Node, error) {
	cpu, err := resource.ParseQuantity(o.NodeCPU)
	if err != nil {
		return nil, fmt.Errorf("node-cpu %q: %w", o.NodeCPU, err)
	}
	memory, err := resource.ParseQuantity(o.NodeMemory)
	if err != nil {
		return nil, fmt.Errorf("node-memory %q: %w", o.NodeMemory, err)
	}
	allocatable := corev1.ResourceList{
		corev1.ResourceCPU:    cpu,
		corev1.ResourceMemory: memory,
		corev1.ResourcePods:   *resource.NewQuantity(int64(o.NodePods), resource.DecimalSI),
		// A kubelet reports its disk; without this a pod that requests
		// ephemeral storage, as every pod the program makes does, would
		// never fit a simulated node.
		corev1.ResourceEphemeralStorage: simulatedNodeDisk,
	}
	nodes := make([]*corev1.Node, 0, o.Nodes)
	for i := range o.Nodes {
		name := fmt.Sprintf("%s-node-%d", o.Name, i)
		nodes = append(nodes, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				// kwok-controller fakes the kubelet for nodes with this
				// annotation; kwokctl's own node template sets it too.
				Annotations: map[string]string{kwokNodeAnnotation: "fake"},
				Labels: map[string]string{
					corev1.LabelHostname:            name,
					corev1.LabelTopologyZone:        o.Zones[i%len(o.Zones)],
					corev1.LabelTopologyRegion:      o.Region,
					corev1.LabelOSStable:            "linux",
					corev1.LabelArchStable:          "amd64",
					"node-role.kubernetes.io/agent": "",
					"type":                          "kwok",
				},
			},
			Status: corev1.NodeStatus{
				Allocatable: allocatable,
				Capacity:    allocatable,
				NodeInfo: corev1.NodeSystemInfo{
					Architecture:    "amd64",
					OperatingSystem: "linux",
				},
				Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: o.kwokNodeAddress(i)}},
			},
		})
	}
	return nodes, nil
}

// kwokNodeAddress is simulated node i's InternalIP. With a real node, an
// unanswered address on the real node's link, so a real pod scraping a
// simulated kubelet fails on this machine; otherwise TEST-NET-1 (RFC 5737),
// which nothing in a simulated cluster ever dials.
func (o Options) kwokNodeAddress(i int) string {
	if o.RealNodes > 0 {
		return kwokNodeIP(i)
	}
	return fmt.Sprintf("192.0.2.%d", i+1)
}
