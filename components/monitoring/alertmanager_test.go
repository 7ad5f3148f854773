package monitoring

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestAlertmanagerConfig(t *testing.T) {
	tests := []struct {
		name            string
		settings        AlertmanagerSettings
		webhooks, slack int
	}{
		{"no receiver: alerts stay in the UI", AlertmanagerSettings{}, 0, 0},
		{"webhook", AlertmanagerSettings{WebhookURL: "https://hooks.example.com/a"}, 1, 0},
		{"slack and webhook", AlertmanagerSettings{WebhookURL: "https://hooks.example.com/a", SlackWebhookURL: "https://hooks.slack.com/x"}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := AlertmanagerConfig(tt.settings)
			if err != nil {
				t.Fatal(err)
			}
			var c amConfig
			if err := yaml.Unmarshal([]byte(raw), &c); err != nil {
				t.Fatal(err)
			}
			if len(c.Receivers) != 1 || len(c.Receivers[0].WebhookConfigs) != tt.webhooks || len(c.Receivers[0].SlackConfigs) != tt.slack {
				t.Errorf("receivers %+v", c.Receivers)
			}
			if got := strings.Join(c.Route.GroupBy, ","); got != "alertname,namespace" {
				t.Errorf("group_by %s", got)
			}
			inhibit := c.InhibitRules[0]
			if inhibit.SourceMatchers[0] != `severity="critical"` || inhibit.TargetMatchers[0] != `severity="warning"` || strings.Join(inhibit.Equal, ",") != "alertname,namespace" {
				t.Errorf("inhibit rule %+v", inhibit)
			}
		})
	}
}

// The receivers' URLs go into a Secret, marked secret, never into a ConfigMap.
func TestAlertmanagerURLsStaySecret(t *testing.T) {
	m, _ := deploy(t, prodArgs())
	secret := m.Find(t, tSecret, "mon-alertmanager-config")
	config := secret.String(`stringData["alertmanager.yaml"]`)
	if !strings.Contains(config, "hook-s3cr3t") || !strings.Contains(config, "slack-s3cr3t") {
		t.Errorf("config lacks the receivers:\n%s", config)
	}
	if !secret.IsSecret(`stringData["alertmanager.yaml"]`) {
		t.Error("the Alertmanager config is not marked secret")
	}
	for _, cm := range m.OfType(tConfigMap) {
		for _, leak := range []string{"hook-s3cr3t", "slack-s3cr3t"} {
			if strings.Contains(fmt.Sprint(cm.Inputs.Mappable()), leak) {
				t.Errorf("config map %s holds a receiver URL", cm.Name)
			}
		}
	}
	sts := m.Find(t, tStatefulSet, "mon-alertmanager")
	expectString(t, sts, "metadata.name", "mon-alertmanager")
	expectString(t, sts, "spec.serviceName", "mon-alertmanager-peers-abc123")
	expectString(t, sts, "spec.podManagementPolicy", "Parallel")
	peers := m.Find(t, tService, "mon-alertmanager-peers")
	expectString(t, peers, "spec.clusterIP", "None")
	if v, _ := peers.Bool("spec.publishNotReadyAddresses"); !v {
		t.Error("peers must find each other before they are ready")
	}
}
