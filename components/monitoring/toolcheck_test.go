package monitoring

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/components/appmetrics"
)

// requireTool finds a checker of the field (promtool, amtool). Missing tools fail the run in CI
// (`.ci/run` installs them) and skip it elsewhere.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not on PATH: install the Debian packages prometheus and prometheus-alertmanager", name)
	}
	t.Skipf("%s is not on PATH (apt-get install prometheus prometheus-alertmanager); skipping", name)
	return ""
}

func runTool(t *testing.T, tool string, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(tool), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func scalingTargets(t *testing.T) []ScalingTarget {
	t.Helper()
	m, err := appmetrics.Lookup("http_requests_per_second")
	if err != nil {
		t.Fatal(err)
	}
	return []ScalingTarget{{Metric: m, Target: "50"}}
}

func testRuleSettings(t *testing.T) RuleSettings {
	return RuleSettings{
		AppJob: "nexios", AppNamespace: "nexios-prod", MonitoringNamespace: "monitoring",
		Thresholds:     Thresholds{ErrorRatePercent: 5, LatencyP95Seconds: 0.5, RestartsPerHour: 3, PVCUsagePercent: 85, HPAAtMaxForMinutes: 15},
		ScalingMetrics: scalingTargets(t),
	}
}

// The generated prometheus.yaml and rule file pass promtool, with the rule file found through the
// config's rule_files glob and the service account files it names present.
func TestPromtoolAcceptsConfigAndRules(t *testing.T) {
	promtool := requireTool(t, "promtool")
	dir := t.TempDir()
	saDir := filepath.Join(dir, "serviceaccount")
	write(t, filepath.Join(saDir, "token"), "token")
	write(t, filepath.Join(saDir, "ca.crt"), "ca")
	rules, err := RulesFile(testRuleSettings(t))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "rules", rulesFileName), rules)
	config, err := PrometheusConfig(ScrapeSettings{
		Instance: "monitoring", MonitoringNamespace: "monitoring",
		App:      AppScrape{Job: "nexios", Namespace: "nexios-prod", PodLabels: map[string]string{"app.kubernetes.io/name": "nexios", "app.kubernetes.io/instance": "nexios"}, Port: 8000, Path: "/metrics"},
		RulesDir: filepath.Join(dir, "rules"), ServiceAccountDir: saDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, prometheusConfigKey), config)

	out, err := exec.Command(promtool, "check", "config", filepath.Join(dir, prometheusConfigKey)).CombinedOutput()
	if err != nil && strings.Contains(string(out), "field kubernetes_sd_configs not found") {
		// Debian builds promtool without Kubernetes service discovery. Check everything else in the
		// file (jobs, relabelling, TLS and authorization, alerting, rule files) with each discovery
		// block swapped for a static target; an upstream promtool checks the file as it is.
		t.Logf("%s lacks Kubernetes service discovery; checking the config with static targets in its place", promtool)
		write(t, filepath.Join(dir, prometheusConfigKey), withStaticTargets(t, config))
		out, err = exec.Command(promtool, "check", "config", filepath.Join(dir, prometheusConfigKey)).CombinedOutput()
	}
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS: 1 rule files found") {
		t.Errorf("promtool did not check the rule file through the config:\n%s", out)
	}
	runTool(t, promtool, "check", "rules", filepath.Join(dir, "rules", rulesFileName))
}

// Every receiver combination passes amtool.
func TestAmtoolAcceptsConfig(t *testing.T) {
	amtool := requireTool(t, "amtool")
	for name, s := range map[string]AlertmanagerSettings{
		"no receiver": {},
		"webhook":     {WebhookURL: "https://hooks.example.com/alerts?token=s3cr3t"},
		"slack":       {SlackWebhookURL: "https://hooks.slack.com/services/T000/B000/XXXX"},
		"both":        {WebhookURL: "https://hooks.example.com/alerts", SlackWebhookURL: "https://hooks.slack.com/services/T000/B000/XXXX"},
	} {
		t.Run(name, func(t *testing.T) {
			config, err := AlertmanagerConfig(s)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), alertmanagerConfigKey)
			write(t, path, config)
			out := runTool(t, amtool, "check-config", path)
			if !strings.Contains(out, "SUCCESS") {
				t.Errorf("amtool:\n%s", out)
			}
		})
	}
}

// withStaticTargets replaces every kubernetes_sd_configs block of a generated config with a static target.
func withStaticTargets(t *testing.T, config string) string {
	t.Helper()
	var c promConfig
	if err := yaml.Unmarshal([]byte(config), &c); err != nil {
		t.Fatal(err)
	}
	static := []staticConfig{{Targets: []string{"localhost:9999"}}}
	for i := range c.ScrapeConfigs {
		if c.ScrapeConfigs[i].KubernetesSDConfigs != nil {
			c.ScrapeConfigs[i].KubernetesSDConfigs, c.ScrapeConfigs[i].StaticConfigs = nil, static
		}
	}
	for i := range c.Alerting.Alertmanagers {
		c.Alerting.Alertmanagers[i].KubernetesSDConfigs = nil
		c.Alerting.Alertmanagers[i].StaticConfigs = static
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
