package secrets

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

const tPassword = "random:index/randomPassword:RandomPassword"

func generate(t *testing.T, args *SecretsArgs) (*mocktest.Mocks, *Secrets, error) {
	t.Helper()
	m := &mocktest.Mocks{}
	var s *Secrets
	err := m.Run("test", mocktest.Config{}, func(ctx *pulumi.Context) error {
		var err error
		s, err = NewSecrets(ctx, "stack", args)
		return err
	})
	return m, s, err
}

func TestNewSecretsGeneratesWhatIsNeeded(t *testing.T) {
	tests := []struct {
		name string
		args SecretsArgs
		want []string
	}{
		{"app only", SecretsArgs{}, []string{"stack-app-secret-key"}},
		{"with monitoring", SecretsArgs{GrafanaAdminPassword: true}, []string{"stack-app-secret-key", "stack-grafana-admin"}},
		{"with logging", SecretsArgs{ElasticPassword: true},
			[]string{"stack-app-secret-key", "stack-elastic", "stack-elastic-ca-seed", "stack-fluent-bit-writer", "stack-kibana-system"}},
		{"with monitoring and logging", SecretsArgs{GrafanaAdminPassword: true, ElasticPassword: true, GrafanaReaderPassword: true},
			[]string{"stack-app-secret-key", "stack-elastic", "stack-elastic-ca-seed", "stack-fluent-bit-writer", "stack-grafana-admin", "stack-grafana-reader", "stack-kibana-system"}},
		{"with the in-cluster database", SecretsArgs{DatabasePassword: true}, []string{"stack-app-secret-key", "stack-database"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, err := generate(t, &tt.args)
			if err != nil {
				t.Fatalf("NewSecrets: %v", err)
			}
			var got []string
			for _, r := range m.OfType(tPassword) {
				got = append(got, r.Name)
				if r.Parent == "" {
					t.Errorf("%s has no parent", r.Name)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("generated %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPasswordInputs(t *testing.T) {
	m, _, err := generate(t, &SecretsArgs{AppSecretKeyRotation: "2026-11", GrafanaAdminPassword: true})
	if err != nil {
		t.Fatalf("NewSecrets: %v", err)
	}
	key := m.Find(t, tPassword, "stack-app-secret-key")
	if got := key.Number("length"); got != appSecretKeyLength {
		t.Errorf("app key length = %v, want %d", got, appSecretKeyLength)
	}
	if special, _ := key.Bool("special"); special {
		t.Error("app key allows special characters")
	}
	if got := key.String("keepers.rotation"); got != "2026-11" {
		t.Errorf("app key keeper = %q, want the rotation value", got)
	}
	for _, class := range []string{"minLower", "minUpper", "minNumeric"} {
		if key.Number(class) != 1 {
			t.Errorf("app key %s = %v, want 1", class, key.Number(class))
		}
	}
	grafana := m.Find(t, tPassword, "stack-grafana-admin")
	// The database password goes into a URL's userinfo: only unreserved characters (RFC 3986), and
	// no rotation keeper, which would lock the app out of a database initialised with the old one.
	m, _, err = generate(t, &SecretsArgs{DatabasePassword: true, AppSecretKeyRotation: "3"})
	if err != nil {
		t.Fatalf("NewSecrets: %v", err)
	}
	database := m.Find(t, tPassword, "stack-database")
	if got := database.String("overrideSpecial"); got != "-_.~" {
		t.Errorf("database overrideSpecial = %q", got)
	}
	if got := database.String("keepers.rotation"); got != "" {
		t.Errorf("database keeper = %q, want none", got)
	}
	if got := grafana.String("overrideSpecial"); got != "-_.~" {
		t.Errorf("grafana overrideSpecial = %q", got)
	}
	if got := grafana.Number("minSpecial"); got != 1 {
		t.Errorf("grafana minSpecial = %v", got)
	}
}

// Rotation works through keepers: a new rotation value is a new keeper, which pulumi-random answers by
// replacing the password.
func TestRotationChangesKeepers(t *testing.T) {
	keeper := func(rotation string) string {
		m, _, err := generate(t, &SecretsArgs{AppSecretKeyRotation: rotation})
		if err != nil {
			t.Fatalf("NewSecrets: %v", err)
		}
		return m.Find(t, tPassword, "stack-app-secret-key").String("keepers.rotation")
	}
	if keeper("") == keeper("2026-12") {
		t.Error("changing the rotation value does not change the keepers")
	}
}

func TestOutputsAreSecret(t *testing.T) {
	_, s, err := generate(t, &SecretsArgs{GrafanaAdminPassword: true, ElasticPassword: true, GrafanaReaderPassword: true, DatabasePassword: true})
	if err != nil {
		t.Fatalf("NewSecrets: %v", err)
	}
	for name, out := range map[string]pulumi.StringOutput{
		"appSecretKey": s.AppSecretKey, "grafanaAdminPassword": s.GrafanaAdminPassword, "elasticPassword": s.ElasticPassword,
		"kibanaSystemPassword": s.KibanaSystemPassword, "elasticCaSeed": s.ElasticCASeed,
		"fluentBitWriterPassword": s.FluentBitWriterPassword, "grafanaReaderPassword": s.GrafanaReaderPassword,
		"databasePassword": s.DatabasePassword,
	} {
		value, secret := mocktest.Await(t, out)
		if !secret {
			t.Errorf("%s is not secret", name)
		}
		if !strings.HasPrefix(value.(string), "generated-") {
			t.Errorf("%s = %v, want the generated password", name, value)
		}
	}
}

func TestNilArgs(t *testing.T) {
	if _, _, err := generate(t, nil); err == nil || !strings.Contains(err.Error(), "args are required") {
		t.Errorf("nil args: got %v", err)
	}
}

func TestKibanaSystemRotationReachesItsKeeper(t *testing.T) {
	m, _, err := generate(t, &SecretsArgs{ElasticPassword: true, KibanaSystemPasswordRotation: "2027-01"})
	if err != nil {
		t.Fatalf("NewSecrets: %v", err)
	}
	if got := m.Find(t, tPassword, "stack-kibana-system").String("keepers.rotation"); got != "2027-01" {
		t.Errorf("kibana_system keeper = %q, want the rotation value", got)
	}
	// The CA seed has no rotation: a new CA splits a running cluster until every node restarts.
	if got := m.Find(t, tPassword, "stack-elastic-ca-seed").String("keepers.rotation"); got != "" {
		t.Errorf("CA seed keeper = %q, want none", got)
	}
}

func TestElasticsearchUserRotationsReachTheirKeepers(t *testing.T) {
	m, _, err := generate(t, &SecretsArgs{
		GrafanaAdminPassword: true, ElasticPassword: true, GrafanaReaderPassword: true,
		FluentBitWriterPasswordRotation: "2027-02", GrafanaReaderPasswordRotation: "2027-03",
	})
	if err != nil {
		t.Fatalf("NewSecrets: %v", err)
	}
	for name, want := range map[string]string{"stack-fluent-bit-writer": "2027-02", "stack-grafana-reader": "2027-03"} {
		p := m.Find(t, tPassword, name)
		if got := p.String("keepers.rotation"); got != want {
			t.Errorf("%s keeper = %q, want %q", name, got, want)
		}
		if got := p.String("overrideSpecial"); got != "-_.~" {
			t.Errorf("%s overrideSpecial = %q: the password goes into JSON and a Grafana provisioning file", name, got)
		}
	}
}

// A reader password is only wanted where Grafana reads Elasticsearch: both stacks on.
func TestGrafanaReaderPasswordNeedsBothStacks(t *testing.T) {
	for _, args := range []SecretsArgs{
		{GrafanaReaderPassword: true, ElasticPassword: true},
		{GrafanaReaderPassword: true, GrafanaAdminPassword: true},
	} {
		m, _, err := generate(t, &args)
		if err == nil || !strings.Contains(err.Error(), "GrafanaReaderPassword needs both") {
			t.Errorf("%+v: got %v", args, err)
		}
		if n := len(m.Resources()); n != 0 {
			t.Errorf("%+v: %d resources registered", args, n)
		}
	}
}

// The Elasticsearch admin password's bcrypt hash comes from the same RandomPassword, secret, so a
// rotation changes both; without logging it is empty.
func TestElasticPasswordHash(t *testing.T) {
	m, s, err := generate(t, &SecretsArgs{ElasticPassword: true, ElasticPasswordRotation: "2027-04"})
	if err != nil {
		t.Fatalf("NewSecrets: %v", err)
	}
	if got := m.Find(t, tPassword, "stack-elastic").String("keepers.rotation"); got != "2027-04" {
		t.Errorf("elastic keeper = %q, want the rotation value", got)
	}
	password, _ := mocktest.Await(t, s.ElasticPassword)
	hash, secret := mocktest.Await(t, s.ElasticPasswordHash)
	if !secret {
		t.Error("elasticPasswordHash is not secret")
	}
	if hash != mocktest.BcryptHash(password.(string)) {
		t.Errorf("elasticPasswordHash = %v, want the bcryptHash of the elastic password", hash)
	}
	_, s, err = generate(t, &SecretsArgs{})
	if err != nil {
		t.Fatalf("NewSecrets: %v", err)
	}
	if hash, secret := mocktest.Await(t, s.ElasticPasswordHash); hash != "" || !secret {
		t.Errorf("without logging elasticPasswordHash = %v (secret %v), want a secret empty string", hash, secret)
	}
}
