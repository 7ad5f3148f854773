// Package secrets generates a stack's own secrets with pulumi-random and keeps them as Pulumi secrets.
package secrets

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Lengths of the generated values. The app key signs sessions and tokens, so it gets more entropy
// than the passwords people may have to type.
const (
	appSecretKeyLength = 64
	passwordLength     = 32
)

// SecretsArgs choose which secrets to generate and carry their rotation values.
type SecretsArgs struct {
	// Rotation values are kept by the generator: changing one generates a new value, which rolls
	// the pods that use it through their config checksum.
	AppSecretKeyRotation            string
	GrafanaAdminPasswordRotation    string
	ElasticPasswordRotation         string
	KibanaSystemPasswordRotation    string
	FluentBitWriterPasswordRotation string
	GrafanaReaderPasswordRotation   string

	// GrafanaAdminPassword and ElasticPassword are generated only for the stacks that run Grafana
	// (monitoring) or Elasticsearch (logging). ElasticPassword also generates the kibana_system and
	// fluentbit_writer passwords and the seed of the Elasticsearch certificate authority, which only
	// logging uses.
	GrafanaAdminPassword bool
	ElasticPassword      bool
	// GrafanaReaderPassword generates the password of Grafana's read-only Elasticsearch user: only
	// when both Grafana and Elasticsearch run.
	GrafanaReaderPassword bool
	// DatabasePassword generates the in-cluster PostgreSQL's password, for the stacks that run it. It
	// has no rotation value: the server reads its password only when it initialises an empty data
	// directory, so a new value would lock the app out of the existing database.
	DatabasePassword bool
}

// Secrets are a stack's generated secrets. Every value output is a Pulumi secret.
type Secrets struct {
	pulumi.ResourceState

	AppSecretKey pulumi.StringOutput `pulumi:"appSecretKey"`
	// GrafanaAdminPassword and ElasticPassword are empty when not generated.
	GrafanaAdminPassword pulumi.StringOutput `pulumi:"grafanaAdminPassword"`
	// ElasticPassword is the password of Elasticsearch's administrative user, and ElasticPasswordHash
	// its bcrypt hash ($2a$, cost 10), which Elasticsearch's file realm reads. Both come from the same
	// RandomPassword, so a rotation changes them together.
	ElasticPassword      pulumi.StringOutput `pulumi:"elasticPassword"`
	ElasticPasswordHash  pulumi.StringOutput `pulumi:"elasticPasswordHash"`
	KibanaSystemPassword pulumi.StringOutput `pulumi:"kibanaSystemPassword"`
	// FluentBitWriterPassword is Fluent Bit's Elasticsearch user's, empty without logging;
	// GrafanaReaderPassword Grafana's, empty unless both monitoring and logging are on.
	FluentBitWriterPassword pulumi.StringOutput `pulumi:"fluentBitWriterPassword"`
	GrafanaReaderPassword   pulumi.StringOutput `pulumi:"grafanaReaderPassword"`
	// DatabasePassword is the in-cluster PostgreSQL's, empty when not generated.
	DatabasePassword pulumi.StringOutput `pulumi:"databasePassword"`
	// ElasticCASeed derives the Elasticsearch CA and node keys. It has no rotation value: nodes holding
	// certificates of different CAs cannot talk, so a new CA means restarting the whole cluster at once.
	ElasticCASeed pulumi.StringOutput `pulumi:"elasticCaSeed"`
}

var _ pulumi.ComponentResource = (*Secrets)(nil)

// NewSecrets generates the stack's secrets.
func NewSecrets(ctx *pulumi.Context, name string, args *SecretsArgs, opts ...pulumi.ResourceOption) (*Secrets, error) {
	if args == nil {
		return nil, errors.New("secrets: args are required")
	}
	if args.GrafanaReaderPassword && (!args.GrafanaAdminPassword || !args.ElasticPassword) {
		// A reader password without Grafana or Elasticsearch would be a secret nothing uses.
		return nil, fmt.Errorf("secrets %q: GrafanaReaderPassword needs both GrafanaAdminPassword and ElasticPassword", name)
	}
	s := &Secrets{}
	if err := ctx.RegisterComponentResource("nexios:components:Secrets", name, s, opts...); err != nil {
		return nil, fmt.Errorf("registering secrets %q: %w", name, err)
	}
	child := pulumi.Parent(s)

	var err error
	// The app key is used in URLs and headers by some frameworks: letters and digits only.
	s.AppSecretKey, err = password(ctx, name+"-app-secret-key", appSecretKeyLength, false, args.AppSecretKeyRotation, child)
	if err != nil {
		return nil, err
	}
	s.GrafanaAdminPassword = pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)
	if args.GrafanaAdminPassword {
		s.GrafanaAdminPassword, err = password(ctx, name+"-grafana-admin", passwordLength, true, args.GrafanaAdminPasswordRotation, child)
		if err != nil {
			return nil, err
		}
	}
	s.ElasticPassword = pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)
	s.ElasticPasswordHash = s.ElasticPassword
	s.KibanaSystemPassword = s.ElasticPassword
	s.ElasticCASeed = s.ElasticPassword
	s.FluentBitWriterPassword = s.ElasticPassword
	s.GrafanaReaderPassword = s.ElasticPassword
	if args.ElasticPassword {
		// Still named -elastic, as when it was the `elastic` user's: a new name would regenerate it.
		elastic, err := newPassword(ctx, name+"-elastic", passwordLength, true, args.ElasticPasswordRotation, child)
		if err != nil {
			return nil, err
		}
		s.ElasticPassword = pulumi.ToSecret(elastic.Result).(pulumi.StringOutput)
		s.ElasticPasswordHash = pulumi.ToSecret(elastic.BcryptHash).(pulumi.StringOutput)
		s.KibanaSystemPassword, err = password(ctx, name+"-kibana-system", passwordLength, true, args.KibanaSystemPasswordRotation, child)
		if err != nil {
			return nil, err
		}
		s.ElasticCASeed, err = password(ctx, name+"-elastic-ca-seed", appSecretKeyLength, false, "", child)
		if err != nil {
			return nil, err
		}
		s.FluentBitWriterPassword, err = password(ctx, name+"-fluent-bit-writer", passwordLength, true, args.FluentBitWriterPasswordRotation, child)
		if err != nil {
			return nil, err
		}
	}
	if args.GrafanaReaderPassword {
		s.GrafanaReaderPassword, err = password(ctx, name+"-grafana-reader", passwordLength, true, args.GrafanaReaderPasswordRotation, child)
		if err != nil {
			return nil, err
		}
	}

	s.DatabasePassword = pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)
	if args.DatabasePassword {
		s.DatabasePassword, err = password(ctx, name+"-database", passwordLength, true, "", child)
		if err != nil {
			return nil, err
		}
	}

	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{
		"appSecretKey":            s.AppSecretKey,
		"grafanaAdminPassword":    s.GrafanaAdminPassword,
		"elasticPassword":         s.ElasticPassword,
		"elasticPasswordHash":     s.ElasticPasswordHash,
		"kibanaSystemPassword":    s.KibanaSystemPassword,
		"elasticCaSeed":           s.ElasticCASeed,
		"fluentBitWriterPassword": s.FluentBitWriterPassword,
		"grafanaReaderPassword":   s.GrafanaReaderPassword,
		"databasePassword":        s.DatabasePassword,
	}); err != nil {
		return nil, fmt.Errorf("registering outputs of secrets %q: %w", name, err)
	}
	return s, nil
}

// password generates one secret. Special characters are limited to ones that need no quoting in
// URLs, YAML or shell, since these values end up in connection strings and config files.
func password(ctx *pulumi.Context, name string, length int, special bool, rotation string, opts ...pulumi.ResourceOption) (pulumi.StringOutput, error) {
	p, err := newPassword(ctx, name, length, special, rotation, opts...)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	// pulumi-random already marks result secret; saying so again keeps it secret whatever the provider does.
	return pulumi.ToSecret(p.Result).(pulumi.StringOutput), nil
}

// newPassword creates the RandomPassword behind password, for the callers that also need its bcrypt hash.
func newPassword(ctx *pulumi.Context, name string, length int, special bool, rotation string, opts ...pulumi.ResourceOption) (*random.RandomPassword, error) {
	args := &random.RandomPasswordArgs{
		Length:     pulumi.Int(length),
		Special:    pulumi.Bool(special),
		MinLower:   pulumi.Int(1),
		MinUpper:   pulumi.Int(1),
		MinNumeric: pulumi.Int(1),
		Keepers:    pulumi.StringMap{"rotation": pulumi.String(rotation)},
	}
	if special {
		args.OverrideSpecial = pulumi.String("-_.~")
		args.MinSpecial = pulumi.Int(1)
	}
	p, err := random.NewRandomPassword(ctx, name, args, opts...)
	if err != nil {
		return nil, fmt.Errorf("generating %s: %w", name, err)
	}
	return p, nil
}
