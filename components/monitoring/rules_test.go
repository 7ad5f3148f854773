package monitoring

import (
	"strings"
	"testing"
)

// Every alert carries a severity, a summary, a description and a runbook; the thresholds from the
// config reach the expressions.
func TestRuleGroups(t *testing.T) {
	s := testRuleSettings(t)
	s.Thresholds = Thresholds{ErrorRatePercent: 7, LatencyP95Seconds: 0.25, RestartsPerHour: 4, PVCUsagePercent: 80, HPAAtMaxForMinutes: 20, ErrorRateForMinutes: 3, LatencyForMinutes: 7}
	groups, err := RuleGroups(s)
	if err != nil {
		t.Fatal(err)
	}
	alerts := map[string][]Rule{}
	var recorded []string
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded = append(recorded, r.Record)
				continue
			}
			alerts[r.Alert] = append(alerts[r.Alert], r)
			if sev := r.Labels["severity"]; sev != severityWarning && sev != severityCritical {
				t.Errorf("%s has severity %q", r.Alert, sev)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s lacks %s", r.Alert, a)
				}
			}
		}
	}
	if strings.Join(recorded, ",") != "http_requests_per_second" {
		t.Errorf("recording rules %v", recorded)
	}
	for name, want := range map[string]string{
		"NexiosTargetDown":              `up{job="nexios", namespace="nexios-prod"} == 0`,
		"NexiosHighErrorRate":           "> 7",
		"NexiosHighLatency":             "> 0.25",
		"PodRestartLoop":                "[1h])) > 4",
		"DeploymentReplicasUnavailable": `namespace=~"nexios-prod|monitoring"`,
		"HPAAtMaxReplicas":              "kube_horizontalpodautoscaler_spec_max_replicas",
		"PVCNearlyFull":                 "> 80",
	} {
		rs := alerts[name]
		if len(rs) == 0 || !strings.Contains(rs[0].Expr, want) {
			t.Errorf("%s: %v, want an expression containing %s", name, rs, want)
		}
	}
	// Pairs: a critical alert of the same name inhibits the warning.
	for _, name := range []string{"NexiosTargetDown", "NexiosHighErrorRate", "NexiosHighLatency", "DeploymentReplicasUnavailable", "HPAAtMaxReplicas"} {
		sevs := map[string]bool{}
		for _, r := range alerts[name] {
			sevs[r.Labels["severity"]] = true
		}
		if !sevs[severityWarning] || !sevs[severityCritical] {
			t.Errorf("%s has severities %v, want a warning and a critical", name, sevs)
		}
	}
	for name, want := range map[string]string{"HPAAtMaxReplicas": "20m", "NexiosHighErrorRate": "3m", "NexiosHighLatency": "7m"} {
		for _, r := range alerts[name] {
			if r.For != want {
				t.Errorf("%s (%s) waits %s, want %s", name, r.Labels["severity"], r.For, want)
			}
		}
	}
	if _, err := RuleGroups(RuleSettings{}); err == nil {
		t.Error("empty settings: no error")
	}
}
