package stacks

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRejectsBadMonitoring(t *testing.T) {
	app := map[string]any{"image": image}
	tests := []struct {
		name             string
		kv               map[string]any
		wantKey, wantMsg string
	}{
		{"unknown scaling metric", map[string]any{"nexios:app": map[string]any{"image": image, "autoscaling": map[string]any{"enabled": true, "customMetrics": map[string]any{"queue_depth": 10}}}},
			"nexios:app.autoscaling.customMetrics.queue_depth", "known: http_requests_per_second"},
		{"no adapter", map[string]any{"nexios:app": app, "nexios:monitoring": map[string]any{"adapter": map[string]any{"replicas": 0}}},
			"nexios:monitoring.adapter.replicas", "between 1 and 10"},
		{"prometheus limit below request", map[string]any{"nexios:app": app, "nexios:monitoring": map[string]any{"prometheus": map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "256Mi"}}}}},
			"nexios:monitoring.prometheus.resources.limits.memory", "below the request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("dev", settings(t, nil, tt.kv))
			var cerr *ConfigError
			if !errors.As(err, &cerr) {
				t.Fatalf("error %v, want a *ConfigError", err)
			}
			for _, p := range cerr.Problems {
				if p.Key == tt.wantKey && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Errorf("no problem with key %q and message containing %q in:\n%v", tt.wantKey, tt.wantMsg, err)
		})
	}
}

func TestMonitoringProfiles(t *testing.T) {
	dev, err := Parse("dev", settings(t, nil, map[string]any{"nexios:app": map[string]any{"image": image}}))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "dev adapter replicas", dev.Monitoring.Adapter.Replicas, 1)
	expect(t, "dev prometheus memory", dev.Monitoring.Prometheus.Resources.Requests.Memory, "512Mi")
	prod, err := Parse("prod", settings(t, map[string]bool{"nexios:databaseUrl": true}, map[string]any{"nexios:app": map[string]any{"image": image}, "nexios:databaseUrl": "postgresql://db/x"}))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "prod adapter replicas", prod.Monitoring.Adapter.Replicas, 2)
	expect(t, "prod prometheus memory", prod.Monitoring.Prometheus.Resources.Requests.Memory, "2Gi")
}
