package monitoring

import "testing"

func TestSizingCountsReplicas(t *testing.T) {
	dev, err := SizingOf(devArgs())
	if err != nil {
		t.Fatal(err)
	}
	prod, err := SizingOf(prodArgs())
	if err != nil {
		t.Fatal(err)
	}
	// dev: 200m + 50m + 50m + 100m; memory 512 + 64 + 64 + 128 Mi: no scaling metric, no adapter.
	if cpu, memory := dev.Total(); FormatRequests(cpu, memory) != "0.40 CPU, 0.75 GiB" {
		t.Errorf("dev total %s", FormatRequests(cpu, memory))
	}
	// prod: Prometheus 500m/2Gi, two Alertmanagers (50m/64Mi each) and two adapters (50m/128Mi each).
	if cpu, memory := prod.Total(); FormatRequests(cpu, memory) != "0.85 CPU, 2.56 GiB" {
		t.Errorf("prod total %s", FormatRequests(cpu, memory))
	}
	a := devArgs()
	a.Mode = Operator
	if s, err := SizingOf(a); err != nil || len(s) != 0 {
		t.Errorf("operator mode sizing %v %v, want nothing", s, err)
	}
}
