package logging

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestILMPolicyDeletesAfterRetention(t *testing.T) {
	for _, days := range []int{3, 30} {
		raw, err := ILMPolicy(days)
		if err != nil {
			t.Fatalf("ILMPolicy(%d): %v", days, err)
		}
		var p struct {
			Policy struct {
				Phases map[string]struct {
					MinAge  string                     `json:"min_age"`
					Actions map[string]json.RawMessage `json:"actions"`
				} `json:"phases"`
			} `json:"policy"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("policy is not JSON: %v\n%s", err, raw)
		}
		hot, del := p.Policy.Phases["hot"], p.Policy.Phases["delete"]
		if _, ok := hot.Actions["rollover"]; !ok {
			t.Errorf("no rollover in the hot phase: %s", raw)
		}
		if _, ok := del.Actions["delete"]; !ok || del.MinAge != strconv.Itoa(days)+"d" {
			t.Errorf("delete phase %+v, want delete at %dd", del, days)
		}
	}
	if _, err := ILMPolicy(0); err == nil {
		t.Error("a zero retention was accepted")
	}
}

func TestIndexTemplateMakesADataStreamUnderThePolicy(t *testing.T) {
	for _, tt := range []struct {
		esReplicas, replicas int
	}{{1, 0}, {3, 1}} {
		raw, err := IndexTemplate("nexios-logs", tt.esReplicas)
		if err != nil {
			t.Fatal(err)
		}
		var tpl struct {
			IndexPatterns []string        `json:"index_patterns"`
			DataStream    json.RawMessage `json:"data_stream"`
			Priority      int             `json:"priority"`
			Template      struct {
				Settings map[string]any `json:"settings"`
			} `json:"template"`
		}
		if err := json.Unmarshal(raw, &tpl); err != nil {
			t.Fatalf("template is not JSON: %v", err)
		}
		if len(tpl.IndexPatterns) != 1 || tpl.IndexPatterns[0] != "nexios-logs*" || tpl.DataStream == nil || tpl.Priority <= 100 {
			t.Errorf("template %s", raw)
		}
		if got := tpl.Template.Settings["index.lifecycle.name"]; got != "nexios-logs" {
			t.Errorf("lifecycle = %v", got)
		}
		if got := tpl.Template.Settings["index.number_of_replicas"]; got != float64(tt.replicas) {
			t.Errorf("with %d nodes, replicas = %v, want %d", tt.esReplicas, got, tt.replicas)
		}
	}
}

func TestSetupJob(t *testing.T) {
	tests := []struct {
		name      string
		args      LoggingArgs
		retention string
	}{
		{"dev", devArgs(), `"min_age": "3d"`},
		{"prod", prodArgs(), `"min_age": "30d"`},
	}
	checksums := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			cm := m.Find(t, tConfigMap, "logs-setup")
			if got := cm.String(`data["ilm-policy.json"]`); !strings.Contains(got, tt.retention) {
				t.Errorf("policy %s, want %s", got, tt.retention)
			}
			script := cm.String(`data["setup.sh"]`)
			for _, want := range []string{"PUT '/_ilm/policy/nexios-logs'", "PUT '/_index_template/nexios-logs'", "/_security/user/kibana_system/_password", "--retry"} {
				if !strings.Contains(script, want) {
					t.Errorf("setup script lacks %q:\n%s", want, script)
				}
			}
			job := m.Find(t, tJob, "logs-setup")
			if _, named := job.Get("metadata.name"); named {
				t.Error("the Job has a fixed name: a replacement could not be created before the old Job is deleted")
			}
			if _, set := job.Get("spec.ttlSecondsAfterFinished"); set {
				t.Error("a finished Job deletes itself: refresh would see drift")
			}
			sum := job.String(`spec.template.metadata.annotations["checksum/config"]`)
			if len(sum) != 64 || !job.IsSecret(`spec.template.metadata.annotations["checksum/config"]`) {
				t.Errorf("checksum %q should be a secret sha256 (it covers the passwords)", sum)
			}
			checksums[sum] = true
			e := env(job, "spec.template.spec.containers[0]")
			if e[envAdminPassword] != "secret:"+SecretKeyAdminPassword || e["KIBANA_SYSTEM_PASSWORD"] != "secret:"+SecretKeyKibanaPassword {
				t.Errorf("job env %v", e)
			}
			if !strings.HasPrefix(e["ES_URL"], "https://") {
				t.Errorf("ES_URL = %q", e["ES_URL"])
			}
			if img := job.String("spec.template.spec.containers[0].image"); img != SetupImage || strings.HasSuffix(img, ":latest") {
				t.Errorf("image %q", img)
			}
		})
	}
	if len(checksums) != 2 {
		t.Error("a different retention does not change the Job's template: the Job would not re-run")
	}
}
