// Package app deploys a Nexios web application: its namespace, identity, configuration, workload,
// service, ingress, autoscaling, disruption budget and network policy.
package app

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/kube"
)

// Keys of the app's Secret. database-url is the key the course chapter's manifests use.
const (
	SecretKeyDatabaseURL = "database-url"
	SecretKeyAppSecret   = "secret-key"
)

// Names of the container's ports.
const (
	portHTTP    = "http"
	portMetrics = "metrics"
)

// App is a deployed Nexios application.
type App struct {
	pulumi.ResourceState

	// Namespace holds every namespaced object of the app.
	Namespace pulumi.StringOutput `pulumi:"namespace"`
	// ServiceName and ServicePort address the app inside the cluster.
	ServiceName pulumi.StringOutput `pulumi:"serviceName"`
	ServicePort pulumi.IntOutput    `pulumi:"servicePort"`
	// InternalURL is the in-cluster URL of the Service.
	InternalURL pulumi.StringOutput `pulumi:"internalUrl"`
	// PublicURL is the ingress URL, empty without an ingress.
	PublicURL      pulumi.StringOutput `pulumi:"publicUrl"`
	DeploymentName pulumi.StringOutput `pulumi:"deploymentName"`
	Image          pulumi.StringOutput `pulumi:"image"`
	// SecretName and ConfigMapName name the objects that carry the app's environment (never their values).
	SecretName     pulumi.StringOutput `pulumi:"secretName"`
	ConfigMapName  pulumi.StringOutput `pulumi:"configMapName"`
	ServiceAccount pulumi.StringOutput `pulumi:"serviceAccountName"`
	// PodLabels select the app's pods; MetricsPort and MetricsPath say where Prometheus scrapes them.
	PodLabels   pulumi.StringMapOutput `pulumi:"podLabels"`
	MetricsPort pulumi.IntOutput       `pulumi:"metricsPort"`
	MetricsPath pulumi.StringOutput    `pulumi:"metricsPath"`
}

var _ pulumi.ComponentResource = (*App)(nil)

// NewApp deploys a Nexios application. Pass the Kubernetes provider as an option; every child uses it.
func NewApp(ctx *pulumi.Context, name string, args *AppArgs, opts ...pulumi.ResourceOption) (*App, error) {
	if args == nil {
		return nil, errors.New("app: args are required")
	}
	a := args.withDefaults()
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("app %q: %w", name, err)
	}
	app := &App{}
	if err := ctx.RegisterComponentResource("nexios:components:App", name, app, opts...); err != nil {
		return nil, fmt.Errorf("registering app %q: %w", name, err)
	}
	b := &builder{ctx: ctx, name: name, args: a, child: pulumi.Parent(app)}
	if err := b.build(app); err != nil {
		return nil, fmt.Errorf("app %q: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(app, pulumi.Map{
		"namespace":          app.Namespace,
		"serviceName":        app.ServiceName,
		"servicePort":        app.ServicePort,
		"internalUrl":        app.InternalURL,
		"publicUrl":          app.PublicURL,
		"deploymentName":     app.DeploymentName,
		"image":              app.Image,
		"secretName":         app.SecretName,
		"configMapName":      app.ConfigMapName,
		"serviceAccountName": app.ServiceAccount,
		"podLabels":          app.PodLabels,
		"metricsPort":        app.MetricsPort,
		"metricsPath":        app.MetricsPath,
	}); err != nil {
		return nil, fmt.Errorf("registering outputs of app %q: %w", name, err)
	}
	return app, nil
}

// builder carries what every child needs while the app is assembled.
type builder struct {
	ctx   *pulumi.Context
	name  string
	args  AppArgs
	child pulumi.ResourceOption

	namespace pulumi.StringOutput
	// deps orders namespaced children after the namespace (and quota) exist.
	deps pulumi.ResourceOption
}

func (b *builder) build(app *App) error {
	if err := b.namespaceAndPolicy(); err != nil {
		return err
	}
	sa, err := b.serviceAccount()
	if err != nil {
		return err
	}
	env, err := b.configuration()
	if err != nil {
		return err
	}
	claims, err := b.volumeClaims()
	if err != nil {
		return err
	}
	deployment, backend, err := b.deployment(sa, env, claims)
	if err != nil {
		return err
	}
	service, err := b.service(backend)
	if err != nil {
		return err
	}
	publicURL, err := b.ingress(service)
	if err != nil {
		return err
	}
	if err := b.autoscaler(deployment); err != nil {
		return err
	}
	if err := b.disruptionBudget(); err != nil {
		return err
	}
	if err := b.networkPolicies(); err != nil {
		return err
	}

	app.Namespace = b.namespace
	app.ServiceName = service.Metadata.Name().Elem()
	app.ServicePort = pulumi.Int(b.args.Service.Port).ToIntOutput()
	app.InternalURL = pulumi.Sprintf("http://%s.%s.svc.cluster.local:%d", app.ServiceName, b.namespace, b.args.Service.Port)
	app.PublicURL = publicURL
	app.DeploymentName = deployment.Metadata.Name().Elem()
	app.Image = b.args.Image.ToStringOutput()
	app.SecretName = env.secret.Metadata.Name().Elem()
	app.ConfigMapName = env.configMap.Metadata.Name().Elem()
	app.ServiceAccount = sa.Metadata.Name().Elem()
	app.PodLabels = kube.StringMap(b.selector()).ToStringMapOutput()
	app.MetricsPort = pulumi.Int(b.args.Metrics.Port).ToIntOutput()
	app.MetricsPath = pulumi.String(b.args.Metrics.Path).ToStringOutput()
	return nil
}

// selector is the immutable label set that picks the app's pods.
func (b *builder) selector() map[string]string {
	return kube.SelectorLabels(b.args.Name, b.name)
}

// labels is the full label set of the app's objects.
func (b *builder) labels() map[string]string {
	return kube.ObjectLabels(b.ctx, b.args.Name, b.name, "web", b.args.Environment)
}

// meta is the metadata of a namespaced child; Kubernetes names are left to Pulumi's auto-naming so
// two instances never collide and replacements can create before they delete.
func (b *builder) meta() *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Namespace: b.namespace, Labels: kube.StringMap(b.labels())}
}

func (b *builder) namespaceAndPolicy() error {
	ns, err := kube.NewNamespace(b.ctx, b.name+"-namespace", b.args.Namespace, kube.PodSecurityRestricted, b.labels(), b.child)
	if err != nil {
		return err
	}
	b.namespace = ns.Metadata.Name().Elem()
	dependsOn := []pulumi.Resource{ns}

	if q := b.args.Quota; q != nil {
		quota, err := corev1.NewResourceQuota(b.ctx, b.name+"-quota", &corev1.ResourceQuotaArgs{
			Metadata: b.meta(),
			Spec: &corev1.ResourceQuotaSpecArgs{Hard: pulumi.StringMap{
				"requests.cpu":    pulumi.String(q.RequestsCPU),
				"requests.memory": pulumi.String(q.RequestsMemory),
				"limits.cpu":      pulumi.String(q.LimitsCPU),
				"limits.memory":   pulumi.String(q.LimitsMemory),
				"pods":            pulumi.String(fmt.Sprint(q.Pods)),
			}},
		}, b.child)
		if err != nil {
			return fmt.Errorf("creating resource quota: %w", err)
		}
		dependsOn = append(dependsOn, quota)
	}
	if b.args.LimitRange {
		r := b.args.Resources
		limits, err := corev1.NewLimitRange(b.ctx, b.name+"-limits", &corev1.LimitRangeArgs{
			Metadata: b.meta(),
			Spec: &corev1.LimitRangeSpecArgs{Limits: corev1.LimitRangeItemArray{
				corev1.LimitRangeItemArgs{
					Type:           pulumi.String("Container"),
					Default:        pulumi.StringMap{"cpu": pulumi.String(r.Limits.CPU), "memory": pulumi.String(r.Limits.Memory)},
					DefaultRequest: pulumi.StringMap{"cpu": pulumi.String(r.Requests.CPU), "memory": pulumi.String(r.Requests.Memory)},
				},
			}},
		}, b.child)
		if err != nil {
			return fmt.Errorf("creating limit range: %w", err)
		}
		dependsOn = append(dependsOn, limits)
	}
	// Pods created before the quota or limit range exist would escape them.
	b.deps = pulumi.DependsOn(dependsOn)
	return nil
}

func (b *builder) serviceAccount() (*corev1.ServiceAccount, error) {
	needsAPI := len(b.args.RBACRules) > 0
	sa, err := corev1.NewServiceAccount(b.ctx, b.name+"-sa", &corev1.ServiceAccountArgs{
		Metadata: b.meta(),
		// No token unless the app was granted API access: a stolen token should be worth nothing.
		AutomountServiceAccountToken: pulumi.Bool(needsAPI),
	}, b.child, b.deps)
	if err != nil {
		return nil, fmt.Errorf("creating service account: %w", err)
	}
	if !needsAPI {
		return sa, nil
	}
	rules := rbacv1.PolicyRuleArray{}
	for _, r := range b.args.RBACRules {
		rules = append(rules, rbacv1.PolicyRuleArgs{
			ApiGroups: pulumi.ToStringArray(r.APIGroups),
			Resources: pulumi.ToStringArray(r.Resources),
			Verbs:     pulumi.ToStringArray(r.Verbs),
		})
	}
	role, err := rbacv1.NewRole(b.ctx, b.name+"-role", &rbacv1.RoleArgs{Metadata: b.meta(), Rules: rules}, b.child, b.deps)
	if err != nil {
		return nil, fmt.Errorf("creating role: %w", err)
	}
	_, err = rbacv1.NewRoleBinding(b.ctx, b.name+"-rolebinding", &rbacv1.RoleBindingArgs{
		Metadata: b.meta(),
		RoleRef: rbacv1.RoleRefArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"),
			Kind:     pulumi.String("Role"),
			Name:     role.Metadata.Name().Elem(),
		},
		Subjects: rbacv1.SubjectArray{rbacv1.SubjectArgs{
			Kind:      pulumi.String("ServiceAccount"),
			Name:      sa.Metadata.Name().Elem(),
			Namespace: b.namespace,
		}},
	}, b.child)
	if err != nil {
		return nil, fmt.Errorf("creating role binding: %w", err)
	}
	return sa, nil
}

// environment is what the pod template reads its configuration from.
type environment struct {
	configMap *corev1.ConfigMap
	files     *corev1.ConfigMap
	secret    *corev1.Secret
	// secretEnvNames are the SecretEnv variables, sorted for a stable pod template.
	secretEnvNames []string
	checksum       pulumi.StringOutput
}

func (b *builder) configuration() (*environment, error) {
	env := &environment{}
	data := b.args.Env
	if data == nil {
		data = pulumi.StringMap{}
	}
	var err error
	env.configMap, err = corev1.NewConfigMap(b.ctx, b.name+"-env", &corev1.ConfigMapArgs{Metadata: b.meta(), Data: data}, b.child, b.deps)
	if err != nil {
		return nil, fmt.Errorf("creating environment config map: %w", err)
	}
	files := b.args.ConfigFiles
	if len(files) > 0 {
		env.files, err = corev1.NewConfigMap(b.ctx, b.name+"-files", &corev1.ConfigMapArgs{Metadata: b.meta(), Data: files}, b.child, b.deps)
		if err != nil {
			return nil, fmt.Errorf("creating config files config map: %w", err)
		}
	}

	secretData := pulumi.StringMap{}
	if b.args.DatabaseURL != nil {
		secretData[SecretKeyDatabaseURL] = pulumi.ToSecret(b.args.DatabaseURL).(pulumi.StringOutput)
	}
	if b.args.SecretKey != nil {
		secretData[SecretKeyAppSecret] = pulumi.ToSecret(b.args.SecretKey).(pulumi.StringOutput)
	}
	for name, value := range b.args.SecretEnv {
		secretData[secretEnvKey(name)] = pulumi.ToSecret(value).(pulumi.StringOutput)
		env.secretEnvNames = append(env.secretEnvNames, name)
	}
	sort.Strings(env.secretEnvNames)
	env.secret, err = corev1.NewSecret(b.ctx, b.name+"-secret", &corev1.SecretArgs{
		Metadata:   b.meta(),
		Type:       pulumi.String("Opaque"),
		StringData: secretData,
	}, b.child, b.deps, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))
	if err != nil {
		return nil, fmt.Errorf("creating secret: %w", err)
	}
	if files == nil {
		files = pulumi.StringMap{}
	}
	env.checksum = kube.Checksum(data, files, secretData)
	return env, nil
}

// secretEnvKey names the Secret key of a SecretEnv variable: Secret keys allow the same characters as
// environment names, lowercased here to sit beside database-url and secret-key.
func secretEnvKey(envName string) string {
	return "env-" + strings.ToLower(strings.ReplaceAll(envName, "_", "-"))
}

func (b *builder) volumeClaims() (map[string]*corev1.PersistentVolumeClaim, error) {
	claims := map[string]*corev1.PersistentVolumeClaim{}
	for _, v := range b.args.Volumes {
		spec := &corev1.PersistentVolumeClaimSpecArgs{
			AccessModes: pulumi.StringArray{pulumi.String(v.AccessMode)},
			Resources:   &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String(v.Size)}},
		}
		if v.StorageClass != "" {
			spec.StorageClassName = pulumi.String(v.StorageClass)
		}
		claim, err := corev1.NewPersistentVolumeClaim(b.ctx, b.name+"-pvc-"+v.Name, &corev1.PersistentVolumeClaimArgs{
			Metadata: b.meta(),
			Spec:     spec,
		}, b.child, b.deps)
		if err != nil {
			return nil, fmt.Errorf("creating volume claim %q: %w", v.Name, err)
		}
		claims[v.Name] = claim
	}
	return claims, nil
}
