package monitoring

import (
	"fmt"
	"maps"
	"regexp"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Intervals of the generated configuration. Thirty seconds keeps dev small and is fine-grained enough
// for a 2m rate window (four samples) in the scaling metrics.
const (
	scrapeInterval     = "30s"
	evaluationInterval = "30s"
)

// Where the Prometheus container finds its files.
const (
	prometheusConfigDir = "/etc/prometheus"
	prometheusRulesDir  = "/etc/prometheus/rules"
	serviceAccountDir   = "/var/run/secrets/kubernetes.io/serviceaccount"
	rulesFileName       = "nexios.rules.yaml"
	prometheusPort      = 9090
	alertmanagerPort    = 9093
	alertmanagerPeer    = 9094
	grafanaPort         = 3000
	ksmPort             = 8080
	ksmTelemetryPort    = 8081
	adapterPort         = 6443
)

// Container port names the scrape jobs select.
const (
	portHTTP      = "http"
	portTelemetry = "telemetry"
	portMesh      = "mesh"
	portMeshUDP   = "mesh-udp"
	portHTTPS     = "https"
)

// ScrapeSettings are the plain values the Prometheus configuration is generated from.
type ScrapeSettings struct {
	// Instance is the monitoring component's name: the app.kubernetes.io/instance of the stack's pods.
	Instance            string
	MonitoringNamespace string
	App                 AppScrape
	// RulesDir and ServiceAccountDir are where the files live in the container; tests point them elsewhere.
	RulesDir          string
	ServiceAccountDir string
}

// AppScrape says where the app's metrics are.
type AppScrape struct {
	Job       string
	Namespace string
	PodLabels map[string]string
	Port      int
	Path      string
}

type promConfig struct {
	Global        promGlobal     `yaml:"global"`
	RuleFiles     []string       `yaml:"rule_files"`
	Alerting      promAlerting   `yaml:"alerting"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type promGlobal struct {
	ScrapeInterval     string `yaml:"scrape_interval"`
	EvaluationInterval string `yaml:"evaluation_interval"`
}

type promAlerting struct {
	Alertmanagers []alertmanagerTarget `yaml:"alertmanagers"`
}

type alertmanagerTarget struct {
	APIVersion          string         `yaml:"api_version"`
	StaticConfigs       []staticConfig `yaml:"static_configs,omitempty"`
	KubernetesSDConfigs []kubernetesSD `yaml:"kubernetes_sd_configs,omitempty"`
	RelabelConfigs      []relabel      `yaml:"relabel_configs"`
}

type scrapeConfig struct {
	JobName             string         `yaml:"job_name"`
	HonorLabels         bool           `yaml:"honor_labels,omitempty"`
	MetricsPath         string         `yaml:"metrics_path,omitempty"`
	Scheme              string         `yaml:"scheme,omitempty"`
	Authorization       *authorization `yaml:"authorization,omitempty"`
	TLSConfig           *tlsConfig     `yaml:"tls_config,omitempty"`
	StaticConfigs       []staticConfig `yaml:"static_configs,omitempty"`
	KubernetesSDConfigs []kubernetesSD `yaml:"kubernetes_sd_configs,omitempty"`
	RelabelConfigs      []relabel      `yaml:"relabel_configs,omitempty"`
}

type staticConfig struct {
	Targets []string `yaml:"targets"`
}

type kubernetesSD struct {
	Role       string        `yaml:"role"`
	Namespaces *sdNamespaces `yaml:"namespaces,omitempty"`
}

type sdNamespaces struct {
	Names []string `yaml:"names"`
}

type authorization struct {
	CredentialsFile string `yaml:"credentials_file"`
}

type tlsConfig struct {
	CAFile             string `yaml:"ca_file,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
}

type relabel struct {
	SourceLabels []string `yaml:"source_labels,flow,omitempty"`
	Regex        string   `yaml:"regex,omitempty"`
	TargetLabel  string   `yaml:"target_label,omitempty"`
	Replacement  string   `yaml:"replacement,omitempty"`
	Action       string   `yaml:"action,omitempty"`
}

// PrometheusConfig renders prometheus.yaml: the app's pods and the stack's own workloads found through
// Kubernetes service discovery by label, the API server, the kubelets (volume stats and cAdvisor for
// PVC and container usage), kube-state-metrics, and Prometheus itself.
func PrometheusConfig(s ScrapeSettings) (string, error) {
	if s.App.Job == "" || s.App.Namespace == "" || len(s.App.PodLabels) == 0 || s.App.Port == 0 || s.MonitoringNamespace == "" {
		return "", fmt.Errorf("prometheus config: app job, namespace, pod labels, port and the monitoring namespace are required, got %+v", s)
	}
	if s.RulesDir == "" {
		s.RulesDir = prometheusRulesDir
	}
	if s.ServiceAccountDir == "" {
		s.ServiceAccountDir = serviceAccountDir
	}
	inCluster := func(c scrapeConfig) scrapeConfig {
		c.Scheme = "https"
		c.Authorization = &authorization{CredentialsFile: s.ServiceAccountDir + "/token"}
		c.TLSConfig = &tlsConfig{CAFile: s.ServiceAccountDir + "/ca.crt"}
		return c
	}
	kubelet := func(job, path string) scrapeConfig {
		c := inCluster(scrapeConfig{
			JobName:             job,
			MetricsPath:         path,
			KubernetesSDConfigs: []kubernetesSD{{Role: "node"}},
			RelabelConfigs:      []relabel{{SourceLabels: []string{"__meta_kubernetes_node_name"}, TargetLabel: "node"}},
		})
		// Kubelets serve a self-signed certificate unless the cluster rotates serving certificates
		// through its CA, which we cannot assume; the token still authenticates Prometheus to them.
		c.TLSConfig.InsecureSkipVerify = true
		return c
	}
	stack := func(workload string) map[string]string { return kube.SelectorLabels(workload, s.Instance) }

	ksm := podJob(nameKubeStateMetrics, s.MonitoringNamespace, stack(nameKubeStateMetrics), "__meta_kubernetes_pod_container_port_name", portHTTP)
	// kube-state-metrics reports about other objects: their namespace and pod labels must win over
	// the labels of the kube-state-metrics pod itself.
	ksm.HonorLabels = true
	app := podJob(s.App.Job, s.App.Namespace, s.App.PodLabels, "__meta_kubernetes_pod_container_port_number", fmt.Sprint(s.App.Port))
	app.MetricsPath = s.App.Path

	amRelabel := podJob("", s.MonitoringNamespace, stack(nameAlertmanager), "__meta_kubernetes_pod_container_port_name", portHTTP).RelabelConfigs
	cfg := promConfig{
		Global:    promGlobal{ScrapeInterval: scrapeInterval, EvaluationInterval: evaluationInterval},
		RuleFiles: []string{s.RulesDir + "/*.yaml"},
		Alerting: promAlerting{Alertmanagers: []alertmanagerTarget{{
			APIVersion: "v2",
			// Every replica gets every alert; the replicas deduplicate notifications between themselves.
			KubernetesSDConfigs: []kubernetesSD{{Role: "pod", Namespaces: &sdNamespaces{Names: []string{s.MonitoringNamespace}}}},
			RelabelConfigs:      amRelabel,
		}}},
		ScrapeConfigs: []scrapeConfig{
			{JobName: namePrometheus, StaticConfigs: []staticConfig{{Targets: []string{fmt.Sprintf("localhost:%d", prometheusPort)}}}},
			inCluster(scrapeConfig{
				JobName:             "apiserver",
				KubernetesSDConfigs: []kubernetesSD{{Role: "endpointslice", Namespaces: &sdNamespaces{Names: []string{"default"}}}},
				RelabelConfigs: []relabel{{
					SourceLabels: []string{"__meta_kubernetes_service_name", "__meta_kubernetes_endpointslice_port_name"},
					Regex:        "kubernetes;https",
					Action:       "keep",
				}},
			}),
			kubelet("kubelet", "/metrics"),
			kubelet("cadvisor", "/metrics/cadvisor"),
			ksm,
			podJob(nameAlertmanager, s.MonitoringNamespace, stack(nameAlertmanager), "__meta_kubernetes_pod_container_port_name", portHTTP),
			podJob(nameGrafana, s.MonitoringNamespace, stack(nameGrafana), "__meta_kubernetes_pod_container_port_name", portHTTP),
			app,
		},
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("prometheus config: %w", err)
	}
	return string(out), nil
}

// podJob scrapes the running pods of one namespace that carry labels, on the container port whose
// portLabel (name or number) is port, and names the targets by namespace, pod and container.
func podJob(job, namespace string, labels map[string]string, portLabel, port string) scrapeConfig {
	var rs []relabel
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		rs = append(rs, relabel{
			SourceLabels: []string{"__meta_kubernetes_pod_label_" + sanitizeLabel(k)},
			Regex:        regexp.QuoteMeta(labels[k]),
			Action:       "keep",
		})
	}
	rs = append(rs,
		relabel{SourceLabels: []string{portLabel}, Regex: regexp.QuoteMeta(port), Action: "keep"},
		relabel{SourceLabels: []string{"__meta_kubernetes_pod_phase"}, Regex: "Running", Action: "keep"},
		relabel{SourceLabels: []string{"__meta_kubernetes_namespace"}, TargetLabel: "namespace"},
		relabel{SourceLabels: []string{"__meta_kubernetes_pod_name"}, TargetLabel: "pod"},
		relabel{SourceLabels: []string{"__meta_kubernetes_pod_container_name"}, TargetLabel: "container"},
	)
	return scrapeConfig{
		JobName:             job,
		KubernetesSDConfigs: []kubernetesSD{{Role: "pod", Namespaces: &sdNamespaces{Names: []string{namespace}}}},
		RelabelConfigs:      rs,
	}
}

var invalidLabelChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// sanitizeLabel is how Prometheus' Kubernetes discovery turns a Kubernetes label key into a label name.
func sanitizeLabel(key string) string {
	return invalidLabelChars.ReplaceAllString(key, "_")
}
