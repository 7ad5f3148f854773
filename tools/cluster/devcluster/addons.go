package devcluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// placementPolicy names the MutatingAdmissionPolicy that sends a pod to the
// real node when every image it runs was built here, and leaves the rest
// (Grafana, Elasticsearch, Kibana, Fluent Bit: images that cannot exist on
// this machine) to the kwok nodes. It is a policy of the local cluster, not
// of the program: the manifests stay as a real cluster gets them.
const placementPolicy = "nexios-real-node-placement"

// placementPolicyObjects returns the policy and its binding for the given
// local image references.
func placementPolicyObjects(refs []string) (*admissionv1.MutatingAdmissionPolicy, *admissionv1.MutatingAdmissionPolicyBinding) {
	quoted := make([]string, 0, 2*len(refs))
	for _, ref := range refs {
		for _, form := range []string{ref, normalizedRef(ref)} {
			if q := strconv.Quote(form); !slices.Contains(quoted, q) {
				quoted = append(quoted, q)
			}
		}
	}
	slices.Sort(quoted)
	list := "[" + strings.Join(quoted, ", ") + "]"
	toleration := fmt.Sprintf(`Object.spec.tolerations{key: %q, operator: "Exists", effect: "NoSchedule"}`, realNodeTaint)
	fail := admissionv1.Fail
	policy := &admissionv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: placementPolicy},
		Spec: admissionv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionv1.MatchResources{
				ResourceRules: []admissionv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionv1.RuleWithOperations{
						Operations: []admissionv1.OperationType{admissionv1.Create},
						Rule: admissionv1.Rule{
							APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
						},
					},
				}},
			},
			MatchConditions: []admissionv1.MatchCondition{{
				Name: "every-image-built-here",
				Expression: fmt.Sprintf(`object.spec.containers.all(c, c.image in %[1]s) && `+
					`(!has(object.spec.initContainers) || object.spec.initContainers.all(c, c.image in %[1]s))`, list),
			}},
			// tolerations is an atomic list and nodeSelector an atomic map,
			// which an apply configuration may not change: patch them.
			Mutations: []admissionv1.Mutation{{
				PatchType: admissionv1.PatchTypeJSONPatch,
				JSONPatch: &admissionv1.JSONPatch{Expression: fmt.Sprintf(`(has(object.spec.tolerations) ? `+
					`[JSONPatch{op: "add", path: "/spec/tolerations/-", value: %[1]s}] : `+
					`[JSONPatch{op: "add", path: "/spec/tolerations", value: [%[1]s]}]) + `+
					`(has(object.spec.nodeSelector) ? `+
					`[JSONPatch{op: "add", path: %[2]q, value: "true"}] : `+
					`[JSONPatch{op: "add", path: "/spec/nodeSelector", value: {%[3]q: "true"}}])`,
					toleration, "/spec/nodeSelector/"+strings.ReplaceAll(realNodeLabel, "/", "~1"), realNodeLabel)},
			}},
			FailurePolicy:      &fail,
			ReinvocationPolicy: admissionv1.NeverReinvocationPolicy,
		},
	}
	binding := &admissionv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: placementPolicy},
		Spec:       admissionv1.MutatingAdmissionPolicyBindingSpec{PolicyName: placementPolicy},
	}
	return policy, binding
}

// ensureAddons applies what a real node needs from the API: the placement
// policy, cluster DNS and the resource metrics API.
func (o Options) ensureAddons(ctx context.Context, client kubernetes.Interface, images []localImage) error {
	var refs []string
	for _, image := range images {
		refs = append(refs, image.Ref)
	}
	coreDNSImage, err := imageOf(refs, "registry.k8s.io/coredns/coredns")
	if err != nil {
		return err
	}
	metricsServerImage, err := imageOf(refs, "registry.k8s.io/metrics-server/metrics-server")
	if err != nil {
		return err
	}
	policy, binding := placementPolicyObjects(refs)
	policies := client.AdmissionregistrationV1().MutatingAdmissionPolicies()
	if err := upsert(ctx, policy, policies.Get, policies.Create, policies.Update, func(have, want *admissionv1.MutatingAdmissionPolicy) {
		have.Spec = want.Spec
	}); err != nil {
		return fmt.Errorf("placement policy: %w", err)
	}
	bindings := client.AdmissionregistrationV1().MutatingAdmissionPolicyBindings()
	if err := upsert(ctx, binding, bindings.Get, bindings.Create, bindings.Update, func(have, want *admissionv1.MutatingAdmissionPolicyBinding) {
		have.Spec = want.Spec
	}); err != nil {
		return fmt.Errorf("placement policy binding: %w", err)
	}
	if err := o.ensureCoreDNS(ctx, client, coreDNSImage); err != nil {
		return fmt.Errorf("cluster DNS: %w", err)
	}
	if err := o.ensureMetricsServer(ctx, client, metricsServerImage); err != nil {
		return fmt.Errorf("metrics-server: %w", err)
	}
	return nil
}

// imageOf returns the local image reference of repository.
func imageOf(refs []string, repository string) (string, error) {
	for _, ref := range refs {
		if strings.HasPrefix(ref, repository+":") {
			return ref, nil
		}
	}
	return "", fmt.Errorf("no %s image among the local images; run `make images`", repository)
}

// upsert creates want, or updates the existing object with set.
func upsert[T interface{ GetName() string }](ctx context.Context, want T,
	get func(context.Context, string, metav1.GetOptions) (T, error),
	create func(context.Context, T, metav1.CreateOptions) (T, error),
	update func(context.Context, T, metav1.UpdateOptions) (T, error),
	set func(have, want T),
) error {
	have, err := get(ctx, want.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = create(ctx, want, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	set(have, want)
	_, err = update(ctx, have, metav1.UpdateOptions{})
	return err
}

const (
	coreDNSName      = "coredns"
	coreDNSNamespace = "kube-system"
	// coreDNSUID is distroless' nonroot user, the upstream image's USER.
	coreDNSUID = 65532
)

// coreDNSCorefile answers for the cluster's domain only: the machine has no
// upstream resolver a pod could use, so other names fail fast.
const coreDNSCorefile = `.:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes ` + clusterDomain + ` in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus :9153
    cache 30
    loop
    reload
    loadbalance
}
`

// ensureCoreDNS applies CoreDNS as kubeadm deploys it (Deployment, Service
// kube-dns at the kubelets' clusterDNS address, RBAC, Corefile), pinned to
// the real node.
func (o Options) ensureCoreDNS(ctx context.Context, client kubernetes.Interface, image string) error {
	labels := map[string]string{"k8s-app": "kube-dns"}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: coreDNSNamespace, Labels: labels}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: meta(coreDNSName)}
	if _, err := client.CoreV1().ServiceAccounts(coreDNSNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "system:coredns", Labels: labels},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"endpoints", "services", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		},
	}
	roles := client.RbacV1().ClusterRoles()
	if err := upsert(ctx, role, roles.Get, roles.Create, roles.Update, func(have, want *rbacv1.ClusterRole) { have.Rules = want.Rules }); err != nil {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "system:coredns", Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:coredns"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: coreDNSName, Namespace: coreDNSNamespace}},
	}
	bindings := client.RbacV1().ClusterRoleBindings()
	if err := upsert(ctx, binding, bindings.Get, bindings.Create, bindings.Update, func(have, want *rbacv1.ClusterRoleBinding) {
		have.Subjects = want.Subjects
	}); err != nil {
		return err
	}
	config := &corev1.ConfigMap{ObjectMeta: meta(coreDNSName), Data: map[string]string{"Corefile": coreDNSCorefile}}
	configs := client.CoreV1().ConfigMaps(coreDNSNamespace)
	if err := upsert(ctx, config, configs.Get, configs.Create, configs.Update, func(have, want *corev1.ConfigMap) { have.Data = want.Data }); err != nil {
		return err
	}
	deployment := o.coreDNSDeployment(image, labels)
	deployments := client.AppsV1().Deployments(coreDNSNamespace)
	if err := upsert(ctx, deployment, deployments.Get, deployments.Create, deployments.Update, func(have, want *appsv1.Deployment) {
		have.Spec = want.Spec
	}); err != nil {
		return err
	}
	service := &corev1.Service{
		ObjectMeta: meta("kube-dns"),
		Spec: corev1.ServiceSpec{
			Selector:  labels,
			ClusterIP: clusterDNSIP,
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
				{Name: "metrics", Port: 9153, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9153)},
			},
		},
	}
	services := client.CoreV1().Services(coreDNSNamespace)
	return upsert(ctx, service, services.Get, services.Create, services.Update, func(have, want *corev1.Service) {
		have.Spec.Selector, have.Spec.Ports = want.Spec.Selector, want.Spec.Ports
	})
}

func (o Options) coreDNSDeployment(image string, labels map[string]string) *appsv1.Deployment {
	replicas := int32(1)
	uid := int64(coreDNSUID)
	yes, no := true, false
	probe := func(path string, port int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(port)}},
			PeriodSeconds:    2,
			TimeoutSeconds:   2,
			FailureThreshold: 5,
		}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: coreDNSName, Namespace: coreDNSNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: coreDNSName,
					PriorityClassName:  "system-cluster-critical",
					DNSPolicy:          corev1.DNSDefault,
					NodeSelector:       map[string]string{realNodeLabel: "true"},
					Tolerations: []corev1.Toleration{
						{Key: realNodeTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
					},
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   &yes,
						RunAsUser:      &uid,
						RunAsGroup:     &uid,
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:  coreDNSName,
						Image: image,
						Args:  []string{"-conf", "/etc/coredns/Corefile"},
						Ports: []corev1.ContainerPort{
							{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
							{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
							{Name: "metrics", ContainerPort: 9153, Protocol: corev1.ProtocolTCP},
						},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("70Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("170Mi")},
						},
						LivenessProbe:  probe("/health", 8080),
						ReadinessProbe: probe("/ready", 8181),
						VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/coredns", ReadOnly: true}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: &no,
							ReadOnlyRootFilesystem:   &yes,
							// Port 53 as a non-root user.
							Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}, Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: []corev1.Volume{{
						Name: "config",
						VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: coreDNSName},
						}},
					}},
				},
			},
		},
	}
}

// waitRealNodeReady waits for the real node to be Ready and cluster DNS to
// serve. With a kubelet started at since (not zero), only what it reported
// after that counts: the API keeps a stopped node's last status.
func (o Options) waitRealNodeReady(ctx context.Context, client kubernetes.Interface, since time.Time) error {
	// Condition times have whole seconds.
	since = since.Truncate(time.Second)
	for {
		node, nodeErr := client.CoreV1().Nodes().Get(ctx, o.realNodeName(), metav1.GetOptions{})
		pods, dnsErr := client.CoreV1().Pods(coreDNSNamespace).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
		nodeOK := nodeErr == nil && nodeReadySince(node, since)
		dnsOK := false
		if dnsErr == nil {
			for _, pod := range pods.Items {
				dnsOK = dnsOK || pod.Spec.NodeName == o.realNodeName() && podReadySince(&pod, since)
			}
		}
		if nodeOK && dnsOK {
			return nil
		}
		for _, d := range []string{daemonContainerd, daemonKubelet, daemonKubeProxy, daemonKubeRouter} {
			if !o.daemonAlive(d) {
				return fmt.Errorf("%s exited; see %s/%s.log", d, o.nodeLogDir(), d)
			}
		}
		select {
		case <-ctx.Done():
			what := "cluster DNS (coredns in kube-system) not ready"
			if !nodeOK {
				what = fmt.Sprintf("real node %s not Ready; see %s/kubelet.log", o.realNodeName(), o.nodeLogDir())
			}
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// nodeReadySince reports whether the node is Ready by a heartbeat at or after
// since (any heartbeat with since zero).
func nodeReadySince(node *corev1.Node, since time.Time) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue && !c.LastHeartbeatTime.Time.Before(since)
		}
	}
	return false
}

// podReadySince reports whether the pod is Ready and became so at or after
// since (at any time with since zero).
func podReadySince(pod *corev1.Pod, since time.Time) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue && !c.LastTransitionTime.Time.Before(since)
		}
	}
	return false
}
