package monitoring

import (
	"strings"
	"testing"
)

func TestAdapterRegistration(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	api := m.Find(t, tAPIService, "mon-custom-metrics")
	expectString(t, api, "metadata.name", "v1beta1.custom.metrics.k8s.io")
	expectString(t, api, "spec.group", "custom.metrics.k8s.io")
	expectString(t, api, "spec.service.name", "mon-adapter")
	expectString(t, api, "spec.service.namespace", "monitoring")
	expectString(t, m.Find(t, tClusterBinding, "mon-prometheus-adapter-auth-delegator"), "roleRef.name", "system:auth-delegator")
	reader := m.Find(t, tRoleBinding, "mon-adapter-auth-reader")
	expectString(t, reader, "metadata.namespace", "kube-system")
	expectString(t, reader, "roleRef.name", "extension-apiserver-authentication-reader")
	d := m.Find(t, tDeployment, "mon-adapter")
	if a := args(d); !strings.Contains(a, "--prometheus-url=http://mon-prometheus.monitoring.svc.cluster.local:9090/") {
		t.Errorf("adapter args %q", a)
	}
	config := m.Find(t, tConfigMap, "mon-adapter-config").String(`data["config.yaml"]`)
	if !strings.Contains(config, `seriesQuery: http_requests_per_second{namespace="nexios-prod",pod!=""}`) {
		t.Errorf("adapter config:\n%s", config)
	}
}

func TestAdapterConfigWithoutMetrics(t *testing.T) {
	raw, err := AdapterConfig("nexios-dev", nil)
	if err != nil || strings.TrimSpace(raw) != "rules: []" {
		t.Errorf("no scaling metric: %q %v, want an empty rule list", raw, err)
	}
	if _, err := AdapterConfig("", nil); err == nil {
		t.Error("no namespace: no error")
	}
}
