package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/nexios-labs/nexios-k8s/internal/toolchain"
	nexios "github.com/nexios-labs/nexios-k8s/program"
)

// loggingCluster is the logging test's own local cluster.
const loggingCluster = "nexios-e2e-logging"

// TestLoggingStack deploys the program with logging on, in dev and in prod sizing, to a local cluster:
// every part of the EFK stack must come up Ready (the setup Job Complete), and a second up must
// change nothing.
//
// These stacks set logging.elasticsearch.ephemeralStorage, so the emptyDir path runs for real here;
// TestProdProfile deploys the volume claims on the local cluster's hostPath provisioner. kwok's
// default pod stages complete pods owned by a Job, so the setup Job completes here without skipAwait.
func TestLoggingStack(t *testing.T) {
	ctx, tc, kubeconfig := freshCluster(t, loggingCluster)
	api := newAPIClient(t, kubeconfig)
	project := loggingProject(t, tc)
	backend := t.TempDir()

	for _, tt := range []struct {
		stack, namespace string
		esReplicas       int
		kibanaReplicas   int
		// monitoring also deploys Grafana, which reads the logs; the prod profile with monitoring is
		// TestProdProfile's.
		monitoring bool
	}{
		{"logging-dev", "logging-dev", 1, 1, true},
		{"logging-prod", "logging-prod", 3, 2, false},
	} {
		t.Run(tt.stack, func(t *testing.T) {
			stack := loggingStack(ctx, t, tc, project, backend, kubeconfig, tt.stack, tt.namespace, tt.monitoring)
			progress := optup.ProgressStreams(testLog{t})
			res, err := stack.Up(ctx, progress)
			if err != nil {
				t.Fatalf("first up: %v", err)
			}
			if got := res.Outputs[nexios.ExportLoggingNamespace].Value; got != tt.namespace {
				t.Errorf("loggingNamespace = %v, want %s", got, tt.namespace)
			}
			if url, _ := res.Outputs[nexios.ExportElasticsearchURL].Value.(string); !strings.HasPrefix(url, "https://") || !strings.Contains(url, "."+tt.namespace+".svc.cluster.local:9200") {
				t.Errorf("elasticsearchUrl = %q", url)
			}
			checkLoggingReady(t, api, tt.namespace, tt.esReplicas, tt.kibanaReplicas)
			if tt.monitoring {
				checkGrafanaReadsLogs(t, api, tt.namespace)
			}

			res, err = stack.Up(ctx, progress)
			if err != nil {
				t.Fatalf("second up: %v", err)
			}
			requireOnlySame(t, "second up", res.Summary.ResourceChanges)
		})
	}
}

// checkLoggingReady reads the cluster's own status of every workload of the logging namespace.
func checkLoggingReady(t *testing.T, api apiClient, namespace string, esReplicas, kibanaReplicas int) {
	t.Helper()
	var ns struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if code := api.get(t, "/api/v1/namespaces/"+namespace, &ns); code != http.StatusOK {
		t.Fatalf("GET namespace %s: HTTP %d", namespace, code)
	}
	if got := ns.Metadata.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace %s enforces %q, want restricted (Fluent Bit, which needs host paths, has a namespace of its own)", namespace, got)
	}
	agents := namespace + "-agents"
	if code := api.get(t, "/api/v1/namespaces/"+agents, &ns); code != http.StatusOK {
		t.Fatalf("GET namespace %s: HTTP %d", agents, code)
	}
	if got := ns.Metadata.Labels["pod-security.kubernetes.io/enforce"]; got != "privileged" {
		t.Errorf("namespace %s enforces %q, want privileged (Fluent Bit's hostPath volumes)", agents, got)
	}

	var statefulSets struct {
		Items []struct {
			Spec   struct{ Replicas int } `json:"spec"`
			Status struct {
				ReadyReplicas int `json:"readyReplicas"`
			} `json:"status"`
		} `json:"items"`
	}
	api.get(t, "/apis/apps/v1/namespaces/"+namespace+"/statefulsets", &statefulSets)
	if len(statefulSets.Items) != 1 || statefulSets.Items[0].Status.ReadyReplicas != esReplicas {
		t.Errorf("elasticsearch statefulsets %+v, want one with %d ready", statefulSets.Items, esReplicas)
	}

	var daemonSets struct {
		Items []struct {
			Status struct {
				Desired int `json:"desiredNumberScheduled"`
				Ready   int `json:"numberReady"`
			} `json:"status"`
		} `json:"items"`
	}
	api.get(t, "/apis/apps/v1/namespaces/"+agents+"/daemonsets", &daemonSets)
	if len(daemonSets.Items) != 1 || daemonSets.Items[0].Status.Ready == 0 || daemonSets.Items[0].Status.Ready != daemonSets.Items[0].Status.Desired {
		t.Errorf("fluent bit daemonsets %+v, want one Ready on every node", daemonSets.Items)
	}

	var deployments struct {
		Items []struct {
			Status struct {
				ReadyReplicas int `json:"readyReplicas"`
			} `json:"status"`
		} `json:"items"`
	}
	api.get(t, "/apis/apps/v1/namespaces/"+namespace+"/deployments", &deployments)
	if len(deployments.Items) != 1 || deployments.Items[0].Status.ReadyReplicas != kibanaReplicas {
		t.Errorf("kibana deployments %+v, want one with %d ready", deployments.Items, kibanaReplicas)
	}

	var jobs struct {
		Items []struct {
			Status struct {
				Succeeded int `json:"succeeded"`
			} `json:"status"`
		} `json:"items"`
	}
	api.get(t, "/apis/batch/v1/namespaces/"+namespace+"/jobs", &jobs)
	if len(jobs.Items) != 1 || jobs.Items[0].Status.Succeeded != 1 {
		t.Errorf("setup jobs %+v, want one that succeeded", jobs.Items)
	}
}

// checkGrafanaReadsLogs reads back, from the cluster, Grafana's side of its access to Elasticsearch:
// its reader password comes from a Secret of its own namespace, and the logging namespace's policy
// admits Grafana's pods, from the monitoring namespace, to the client port. kwok runs no containers,
// so the login itself is not tried here.
func checkGrafanaReadsLogs(t *testing.T, api apiClient, loggingNamespace string) {
	t.Helper()
	var deployments struct {
		Items []struct {
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Env []struct {
								Name      string `json:"name"`
								ValueFrom struct {
									SecretKeyRef struct{ Name, Key string } `json:"secretKeyRef"`
								} `json:"valueFrom"`
							} `json:"env"`
						} `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		} `json:"items"`
	}
	api.get(t, "/apis/apps/v1/namespaces/monitoring/deployments?labelSelector=app.kubernetes.io%2Fname%3Dgrafana", &deployments)
	if len(deployments.Items) != 1 || len(deployments.Items[0].Spec.Template.Spec.Containers) == 0 {
		t.Fatalf("grafana deployments %+v, want one", deployments.Items)
	}
	var ref struct{ Name, Key string }
	for _, e := range deployments.Items[0].Spec.Template.Spec.Containers[0].Env {
		if e.Name == "ELASTICSEARCH_PASSWORD" {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	var secret struct {
		Data map[string]string `json:"data"`
	}
	if ref.Name == "" || api.get(t, "/api/v1/namespaces/monitoring/secrets/"+ref.Name, &secret) != http.StatusOK || secret.Data[ref.Key] == "" {
		t.Errorf("Grafana's ELASTICSEARCH_PASSWORD comes from %+v, want a Secret in monitoring holding it", ref)
	}

	var policies struct {
		Items []struct {
			Spec struct {
				PodSelector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"podSelector"`
				Ingress []struct {
					From []struct {
						NamespaceSelector *struct {
							MatchLabels map[string]string `json:"matchLabels"`
						} `json:"namespaceSelector"`
						PodSelector *struct {
							MatchLabels map[string]string `json:"matchLabels"`
						} `json:"podSelector"`
					} `json:"from"`
					Ports []struct {
						Port int `json:"port"`
					} `json:"ports"`
				} `json:"ingress"`
			} `json:"spec"`
		} `json:"items"`
	}
	api.get(t, "/apis/networking.k8s.io/v1/namespaces/"+loggingNamespace+"/networkpolicies", &policies)
	admitted := false
	for _, p := range policies.Items {
		if p.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != "elasticsearch" {
			continue
		}
		for _, rule := range p.Spec.Ingress {
			for _, from := range rule.From {
				if from.NamespaceSelector != nil && from.PodSelector != nil &&
					from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "monitoring" &&
					from.PodSelector.MatchLabels["app.kubernetes.io/name"] == "grafana" &&
					len(rule.Ports) == 1 && rule.Ports[0].Port == 9200 {
					admitted = true
				}
			}
		}
	}
	if !admitted {
		t.Error("the logging namespace's policies do not admit Grafana's pods to Elasticsearch's client port")
	}
}

// loggingProject lays out a scratch project with the real Pulumi.yaml, so the stack files written next
// to it are read exactly as `pulumi up` would read them.
func loggingProject(t *testing.T, tc toolchain.Toolchain) string {
	t.Helper()
	dir := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(tc.Root, "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("reading Pulumi.yaml: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), raw, 0o644); err != nil {
		t.Fatalf("writing Pulumi.yaml: %v", err)
	}
	return dir
}

// loggingStack writes the stack's file and opens it with the program inline, in a scratch backend.
// Monitoring is on only where asked, so the other stacks see only what logging deploys.
func loggingStack(ctx context.Context, t *testing.T, tc toolchain.Toolchain, project, backend, kubeconfig, name, namespace string, monitoring bool) auto.Stack {
	t.Helper()
	file := fmt.Sprintf(`config:
  nexios:target:
    kubeconfig: %q
  nexios:app:
    image: ghcr.io/nexios-labs/nexios-app:1.0.0
  nexios:monitoring:
    enabled: %t
  nexios:logging:
    enabled: true
    namespace: %s
    elasticsearch:
      ephemeralStorage: true
`, kubeconfig, monitoring, namespace)
	if err := os.WriteFile(filepath.Join(project, "Pulumi."+name+".yaml"), []byte(file), 0o644); err != nil {
		t.Fatalf("writing the stack file: %v", err)
	}
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: tc.Root})
	if err != nil {
		t.Fatalf("pulumi CLI: %v", err)
	}
	env := tc.PulumiEnv()
	env["PULUMI_BACKEND_URL"] = "file://" + backend
	env["PULUMI_CONFIG_PASSPHRASE"] = "nexios-e2e-logging"
	stack, err := auto.UpsertStackLocalSource(ctx, name, project,
		auto.Program(nexios.Run), auto.Pulumi(cli), auto.EnvVars(env), auto.SecretsProvider("passphrase"))
	if err != nil {
		t.Fatalf("stack %s: %v", name, err)
	}
	if strings.HasSuffix(name, "-prod") {
		if err := stack.SetConfig(ctx, "nexios:databaseUrl", auto.ConfigValue{Value: "postgresql://nexios:e2e@db.invalid:5432/nexios", Secret: true}); err != nil {
			t.Fatalf("setting databaseUrl: %v", err)
		}
	}
	return stack
}
