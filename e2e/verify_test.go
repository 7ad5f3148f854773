package e2e

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nexios-labs/nexios-k8s/internal/localcluster"
	nexios "github.com/nexios-labs/nexios-k8s/program"
)

// verifyCluster is the verify test's own local cluster, with a real node: a release's 5xx ratio
// exists only where its containers run.
const verifyCluster = "nexios-e2e-verify"

// TestVerifyAfterDeploy drives `deploy up --verify` with the built command on a cluster whose real
// node runs the example app and Prometheus, under steady traffic: a good release bakes for
// app.rollout.bakeSeconds and passes (exit 0) with its requests judged; a release whose / answers
// 500 while its probes stay green (BROKEN_RELEASE) fails its bake on the error ratio, is rolled back
// to the previous update automatically, and up exits 6 naming what failed. After that the cluster
// runs the previous release again.
func TestVerifyAfterDeploy(t *testing.T) {
	ctx, tc, p := pipelineTest(t)
	probe := localcluster.Cluster{Toolchain: tc, Name: verifyCluster}
	if err := probe.RealNodeSupport(ctx); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("NEXIOS_E2E") == "1" {
			t.Fatalf("this machine cannot run a real node: %v", err)
		}
		t.Skipf("this machine cannot run a real node: %v", err)
	}
	cluster := p.onOwnClusterWith(ctx, verifyCluster, 1)

	p.mustRun(ctx, "up", "dev")
	kubeconfig, err := cluster.Kubeconfig(ctx)
	if err != nil {
		t.Fatalf("locating the cluster's kubeconfig: %v", err)
	}
	api := newAPIClient(t, kubeconfig)
	outputs := currentOutputs(ctx, t, p)
	internalURL, namespace := outputs[nexios.ExportInternalURL], outputs[nexios.ExportNamespace]
	if internalURL == "" || namespace == "" {
		t.Fatalf("outputs lack %s or %s: %v", nexios.ExportInternalURL, nexios.ExportNamespace, outputs)
	}
	// Steady traffic for both bakes and the rollback: 5 requests a second to /, through the Service.
	startLoad(t, api, "verify-load", internalURL+"/", 5, 900)

	t.Run("a good release bakes and passes", func(t *testing.T) {
		restore := editStack(t, p, map[string]string{"LOG_LEVEL: debug": "LOG_LEVEL: info"}, "")
		defer restore()
		r := p.run(ctx, "up", "dev", "--verify")
		if r.code != 0 {
			t.Fatalf("up --verify of a good release: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"verify: watching Deployment " + namespace + "/", "for 1m0s (app.rollout.bakeSeconds)", "verify: the release of stack dev is good"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
		logVerifyLines(t, r.stdout)
		// The bake lasted its time and judged real traffic: its last progress line, at a minute or
		// more, counts requests and no 5xx.
		progress := regexp.MustCompile(`verify: (\S+) of 1m0s: \d+ pod\(s\) Ready, no restarts; (\d+) request\(s\), 0 5xx`).FindAllStringSubmatch(r.stdout, -1)
		if len(progress) == 0 {
			t.Fatalf("no progress line of the bake shows its requests:\n%s", r.stdout)
		}
		last := progress[len(progress)-1]
		if elapsed, err := time.ParseDuration(last[1]); err != nil || elapsed < time.Minute || len(last[2]) < 2 {
			t.Errorf("the bake's last line %q: want a minute or more and 10 or more requests", last[0])
		}
		if strings.Contains(r.stdout, "were not judged") {
			t.Errorf("the good release's metrics were not judged:\n%s", r.stdout)
		}
	})

	t.Run("a release answering 5xx is rolled back", func(t *testing.T) {
		editStack(t, p, map[string]string{"LOG_LEVEL: debug": "LOG_LEVEL: info\n      BROKEN_RELEASE: \"true\""}, "")
		start := time.Now()
		r := p.run(ctx, "up", "dev", "--verify")
		t.Logf("up --verify of the broken release took %s", time.Since(start).Round(time.Second))
		logVerifyLines(t, r.stdout)
		if r.code != 6 {
			t.Fatalf("up --verify of a broken release: exit %d, want 6\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{
			"verify: the release of stack dev failed:",
			"answered 5xx, above monitoring.alerts.errorRatePercent (5%)",
			"verify: rolling back to the last successful update before it",
			"stack dev: rolled back to the configuration of update",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
		if !strings.Contains(r.stderr, "failed verification and was rolled back") {
			t.Errorf("stderr lacks the verdict:\n%s", r.stderr)
		}
		checkReleaseRolledBack(ctx, t, api, p, namespace)
	})
}

// checkReleaseRolledBack checks that the app's pods run the release before the broken one: Ready,
// and their environment (the app's ConfigMap) without BROKEN_RELEASE.
func checkReleaseRolledBack(ctx context.Context, t *testing.T, api apiClient, p *pipeline, namespace string) {
	t.Helper()
	outputs := currentOutputs(ctx, t, p)
	deployment := outputs[nexios.ExportDeploymentName]
	var d struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						EnvFrom []struct {
							ConfigMapRef *struct {
								Name string `json:"name"`
							} `json:"configMapRef"`
						} `json:"envFrom"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
		Status struct {
			ReadyReplicas, UpdatedReplicas, Replicas int
		} `json:"status"`
	}
	if code := api.get(t, "/apis/apps/v1/namespaces/"+namespace+"/deployments/"+deployment, &d); code != http.StatusOK {
		t.Fatalf("GET Deployment %s/%s: HTTP %d", namespace, deployment, code)
	}
	if d.Status.ReadyReplicas == 0 || d.Status.ReadyReplicas != d.Status.Replicas || d.Status.UpdatedReplicas != d.Status.Replicas {
		t.Errorf("Deployment %s after the rollback: %+v, want every replica updated and Ready", deployment, d.Status)
	}
	var configMaps []string
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				configMaps = append(configMaps, e.ConfigMapRef.Name)
			}
		}
	}
	if len(configMaps) == 0 {
		t.Fatalf("Deployment %s takes its environment from no ConfigMap", deployment)
	}
	for _, name := range configMaps {
		var cm struct {
			Data map[string]string `json:"data"`
		}
		if code := api.get(t, "/api/v1/namespaces/"+namespace+"/configmaps/"+name, &cm); code != http.StatusOK {
			t.Fatalf("GET ConfigMap %s/%s: HTTP %d", namespace, name, code)
		}
		if v, ok := cm.Data["BROKEN_RELEASE"]; ok {
			t.Errorf("after the rollback the pods' ConfigMap %s still sets BROKEN_RELEASE=%s", name, v)
		}
	}
}

// logVerifyLines logs the lines of up --verify's own report.
func logVerifyLines(t *testing.T, stdout string) {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "verify:") || strings.HasPrefix(line, "  ") && strings.Contains(line, "5xx") {
			t.Log(line)
		}
	}
}
