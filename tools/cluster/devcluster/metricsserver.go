package devcluster

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

// metrics-server serves the resource metrics API (metrics.k8s.io) that
// CPU and memory autoscaling and `kubectl top` read. Managed clusters ship
// it as an add-on rather than with the applications, so the local cluster
// does too: the program's HPAs find it as they would on GKE, EKS or AKS.
const (
	metricsServerName      = "metrics-server"
	metricsServerNamespace = "kube-system"
	metricsServerPort      = 10250
	// metricsServerAPIService is the name the API server requires: <version>.<group>.
	metricsServerAPIService = "v1beta1.metrics.k8s.io"
)

// ensureMetricsServer applies metrics-server v0.8.0 as its upstream
// components.yaml does (RBAC, Service, Deployment, APIService), pinned to
// the real node, with one local difference: it does not verify the
// kubelets' self-signed serving certificates (--kubelet-insecure-tls), as
// upstream advises for local clusters.
func (o Options) ensureMetricsServer(ctx context.Context, client kubernetes.Interface, image string) error {
	labels := map[string]string{"k8s-app": metricsServerName}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: metricsServerNamespace, Labels: labels}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: meta(metricsServerName)}
	if _, err := client.CoreV1().ServiceAccounts(metricsServerNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("service account: %w", err)
	}
	roles := []*rbacv1.ClusterRole{
		{
			// Aggregated into view, edit and admin, so every reader of pods may read their usage.
			ObjectMeta: metav1.ObjectMeta{Name: "system:aggregated-metrics-reader", Labels: map[string]string{
				"k8s-app": metricsServerName, "rbac.authorization.k8s.io/aggregate-to-admin": "true",
				"rbac.authorization.k8s.io/aggregate-to-edit": "true", "rbac.authorization.k8s.io/aggregate-to-view": "true",
			}},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}}},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "system:metrics-server", Labels: labels},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}},
				{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}},
			},
		},
	}
	clusterRoles := client.RbacV1().ClusterRoles()
	for _, role := range roles {
		if err := upsert(ctx, role, clusterRoles.Get, clusterRoles.Create, clusterRoles.Update, func(have, want *rbacv1.ClusterRole) {
			have.Labels, have.Rules = want.Labels, want.Rules
		}); err != nil {
			return fmt.Errorf("cluster role %s: %w", role.Name, err)
		}
	}
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: metricsServerName, Namespace: metricsServerNamespace}}
	clusterBindings := client.RbacV1().ClusterRoleBindings()
	for name, role := range map[string]string{
		"system:metrics-server":                "system:metrics-server",
		"metrics-server:system:auth-delegator": "system:auth-delegator",
	} {
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
			Subjects:   subjects,
		}
		if err := upsert(ctx, binding, clusterBindings.Get, clusterBindings.Create, clusterBindings.Update, func(have, want *rbacv1.ClusterRoleBinding) {
			have.Subjects = want.Subjects
		}); err != nil {
			return fmt.Errorf("cluster role binding %s: %w", name, err)
		}
	}
	reader := &rbacv1.RoleBinding{
		ObjectMeta: meta("metrics-server-auth-reader"),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "extension-apiserver-authentication-reader"},
		Subjects:   subjects,
	}
	roleBindings := client.RbacV1().RoleBindings(metricsServerNamespace)
	if err := upsert(ctx, reader, roleBindings.Get, roleBindings.Create, roleBindings.Update, func(have, want *rbacv1.RoleBinding) {
		have.Subjects = want.Subjects
	}); err != nil {
		return fmt.Errorf("role binding %s: %w", reader.Name, err)
	}
	service := &corev1.Service{
		ObjectMeta: meta(metricsServerName),
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("https")}},
		},
	}
	services := client.CoreV1().Services(metricsServerNamespace)
	if err := upsert(ctx, service, services.Get, services.Create, services.Update, func(have, want *corev1.Service) {
		have.Spec.Selector, have.Spec.Ports = want.Spec.Selector, want.Spec.Ports
	}); err != nil {
		return fmt.Errorf("service: %w", err)
	}
	deployments := client.AppsV1().Deployments(metricsServerNamespace)
	if err := upsert(ctx, metricsServerDeployment(image, labels), deployments.Get, deployments.Create, deployments.Update, func(have, want *appsv1.Deployment) {
		have.Spec = want.Spec
	}); err != nil {
		return fmt.Errorf("deployment: %w", err)
	}
	if err := upsertAPIService(ctx, client, metricsServerAPIServiceObject()); err != nil {
		return fmt.Errorf("API service %s: %w", metricsServerAPIService, err)
	}
	return nil
}

func metricsServerAPIServiceObject() *apiregistrationv1.APIService {
	return &apiregistrationv1.APIService{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apiregistration.k8s.io/v1", Kind: "APIService"},
		ObjectMeta: metav1.ObjectMeta{Name: metricsServerAPIService, Labels: map[string]string{"k8s-app": metricsServerName}},
		Spec: apiregistrationv1.APIServiceSpec{
			Service: &apiregistrationv1.ServiceReference{Name: metricsServerName, Namespace: metricsServerNamespace},
			Group:   "metrics.k8s.io",
			Version: "v1beta1",
			// metrics-server signs its own serving certificate at start-up: there is no CA to pin.
			InsecureSkipTLSVerify: true,
			GroupPriorityMinimum:  100,
			VersionPriority:       100,
		},
	}
}

// upsertAPIService creates or updates an APIService through the plain REST
// client: the typed aggregator clientset would be a second client for one
// object.
func upsertAPIService(ctx context.Context, client kubernetes.Interface, want *apiregistrationv1.APIService) error {
	rest := client.Discovery().RESTClient()
	collection := "/apis/apiregistration.k8s.io/v1/apiservices"
	raw, err := rest.Get().AbsPath(collection, want.Name).DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		body, err := json.Marshal(want)
		if err != nil {
			return err
		}
		return rest.Post().AbsPath(collection).SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Error()
	}
	if err != nil {
		return err
	}
	var have apiregistrationv1.APIService
	if err := json.Unmarshal(raw, &have); err != nil {
		return fmt.Errorf("decoding %s: %w", want.Name, err)
	}
	have.TypeMeta, have.Spec = want.TypeMeta, want.Spec
	body, err := json.Marshal(&have)
	if err != nil {
		return err
	}
	return rest.Put().AbsPath(collection, want.Name).SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Error()
}

func metricsServerDeployment(image string, labels map[string]string) *appsv1.Deployment {
	replicas := int32(1)
	uid := int64(1000)
	yes, no := true, false
	probe := func(path string, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("https"), Scheme: corev1.URISchemeHTTPS}},
			PeriodSeconds:    10,
			FailureThreshold: failures,
		}
	}
	readiness := probe("/readyz", 3)
	readiness.InitialDelaySeconds = 20
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: metricsServerName, Namespace: metricsServerNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: metricsServerName,
					PriorityClassName:  "system-cluster-critical",
					NodeSelector:       map[string]string{realNodeLabel: "true"},
					Tolerations: []corev1.Toleration{
						{Key: realNodeTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
					},
					Containers: []corev1.Container{{
						Name:  metricsServerName,
						Image: image,
						Args: []string{
							"--cert-dir=/tmp",
							fmt.Sprintf("--secure-port=%d", metricsServerPort),
							"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
							"--kubelet-use-node-status-port",
							"--metric-resolution=15s",
							"--kubelet-insecure-tls",
						},
						Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: metricsServerPort, Protocol: corev1.ProtocolTCP}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("200Mi")},
						},
						LivenessProbe:  probe("/livez", 3),
						ReadinessProbe: readiness,
						VolumeMounts:   []corev1.VolumeMount{{Name: "tmp-dir", MountPath: "/tmp"}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: &no,
							ReadOnlyRootFilesystem:   &yes,
							RunAsNonRoot:             &yes,
							RunAsUser:                &uid,
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
					}},
					Volumes: []corev1.Volume{{Name: "tmp-dir", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
}
