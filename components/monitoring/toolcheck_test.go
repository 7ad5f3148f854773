package monitoring

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexios-labs/nexios-k8s/components/appmetrics"
	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
)

// upstreamTool finds bin/upstream/<name>, the promtool or amtool `make prometheus alertmanager`
// builds from the same releases as the images (mk/upstream.mk; `make unit` builds them first), and
// checks that it is the release of the image the component deploys. A missing binary fails the run
// in CI and with NEXIOS_E2E set, and skips the test elsewhere.
func upstreamTool(t *testing.T, name string) string {
	t.Helper()
	path, err := findUpstreamTool(name)
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("NEXIOS_E2E") != "" {
			t.Fatalf("%v; run `make prometheus alertmanager`", err)
		}
		t.Skipf("%v; run `make prometheus alertmanager` (CI or NEXIOS_E2E=1 make this a failure)", err)
	}
	image := map[string]string{"promtool": imagePrometheus, "amtool": imageAlertmanager}[name]
	_, tag, _ := strings.Cut(image, ":v")
	if out := runTool(t, path, "--version"); !strings.Contains(out, "version "+tag+" ") {
		t.Fatalf("%s is not the release of %s: pin the same version in mk/upstream.mk and run `make prometheus alertmanager`:\n%s", path, image, out)
	}
	return path
}

func findUpstreamTool(name string) (string, error) {
	tools, err := toolchain.Find()
	if err != nil {
		return "", err
	}
	path := filepath.Join(tools.BinDir(), "upstream", name)
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s is not built: %s missing", name, path)
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", path)
	}
	return path, nil
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
		Thresholds:     Thresholds{ErrorRatePercent: 5, LatencyP95Seconds: 0.5, RestartsPerHour: 3, PVCUsagePercent: 85, HPAAtMaxForMinutes: 15, ErrorRateForMinutes: 5, LatencyForMinutes: 10},
		ScalingMetrics: scalingTargets(t),
	}
}

func testScrapeSettings() ScrapeSettings {
	return ScrapeSettings{
		Instance: "monitoring", MonitoringNamespace: "monitoring",
		App: AppScrape{Job: "nexios", Namespace: "nexios-prod", PodLabels: map[string]string{"app.kubernetes.io/name": "nexios", "app.kubernetes.io/instance": "nexios"}, Port: 8000, Path: "/metrics"},
	}
}

// The generated prometheus.yaml, Kubernetes service discovery included, passes the promtool of the
// Prometheus release the image runs, lints included: as deployed (its rule and service account files
// exist only in the container, so syntax only), and with those files in place, the rule file found
// through the config's rule_files glob and checked with it.
func TestPromtoolAcceptsConfigAndRules(t *testing.T) {
	promtool := upstreamTool(t, "promtool")

	t.Run("as deployed", func(t *testing.T) {
		config, err := PrometheusConfig(testScrapeSettings())
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"kubernetes_sd_configs:", prometheusRulesDir + "/*.yaml", serviceAccountDir + "/token"} {
			if !strings.Contains(config, want) {
				t.Fatalf("the config lacks %q:\n%s", want, config)
			}
		}
		path := filepath.Join(t.TempDir(), prometheusConfigKey)
		write(t, path, config)
		out := runTool(t, promtool, "check", "config", "--syntax-only", "--lint=all", "--lint-fatal", path)
		if !strings.Contains(out, "SUCCESS") {
			t.Errorf("promtool:\n%s", out)
		}
	})

	t.Run("with its files", func(t *testing.T) {
		dir := t.TempDir()
		saDir := filepath.Join(dir, "serviceaccount")
		write(t, filepath.Join(saDir, "token"), "token")
		write(t, filepath.Join(saDir, "ca.crt"), "ca")
		rules, err := RulesFile(testRuleSettings(t))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, "rules", rulesFileName), rules)
		s := testScrapeSettings()
		s.RulesDir, s.ServiceAccountDir = filepath.Join(dir, "rules"), saDir
		config, err := PrometheusConfig(s)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, prometheusConfigKey), config)
		out := runTool(t, promtool, "check", "config", "--lint=all", "--lint-fatal", filepath.Join(dir, prometheusConfigKey))
		if !strings.Contains(out, "SUCCESS: 1 rule files found") {
			t.Errorf("promtool did not check the rule file through the config:\n%s", out)
		}
	})
}

// The rule file, with and without a scaling metric's recording rule and alert, built in or declared
// by a stack (a ratio, its query checked by appmetrics), passes promtool's checks and lints.
func TestPromtoolAcceptsRules(t *testing.T) {
	promtool := upstreamTool(t, "promtool")
	withMetric := testRuleSettings(t)
	without := withMetric
	without.ScalingMetrics = nil
	declared := withMetric
	latency, err := appmetrics.Define("work_mean_latency_seconds", appmetrics.Definition{
		Query: `sum by (namespace, pod) (rate(` + appmetrics.RequestDuration + `_sum{$app, path="/work"}[2m]))
  / sum by (namespace, pod) (rate(` + appmetrics.RequestDuration + `_count{$app, path="/work"}[2m]))`,
		Unit: "s",
	})
	if err != nil {
		t.Fatal(err)
	}
	declared.ScalingMetrics = append([]ScalingTarget{{Metric: latency, Target: "250m"}}, withMetric.ScalingMetrics...)
	for name, s := range map[string]RuleSettings{"scaling metric": withMetric, "declared scaling metric": declared, "no scaling metric": without} {
		t.Run(name, func(t *testing.T) {
			rules, err := RulesFile(s)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), rulesFileName)
			write(t, path, rules)
			out := runTool(t, promtool, "check", "rules", "--lint=all", "--lint-fatal", path)
			if !strings.Contains(out, "SUCCESS") {
				t.Errorf("promtool:\n%s", out)
			}
		})
	}
}

// Every receiver combination passes the amtool of the Alertmanager release the image runs.
func TestAmtoolAcceptsConfig(t *testing.T) {
	amtool := upstreamTool(t, "amtool")
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
