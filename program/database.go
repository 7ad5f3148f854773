package program

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/app"
	"github.com/nexios-labs/nexios-k8s/components/database"
	"github.com/nexios-labs/nexios-k8s/components/secrets"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// databaseName is the database component's name, and so its Service's, in the app's namespace.
func databaseName(cfg *stacks.Config) string { return cfg.App.Name + "-postgres" }

// databaseArgs maps the stack's postgres section onto the component, all but what comes from the app
// (its namespace and its pods), which deployDatabase adds.
func databaseArgs(cfg *stacks.Config, generated *secrets.Secrets) *database.DatabaseArgs {
	p := cfg.Postgres
	args := &database.DatabaseArgs{
		Environment:  string(cfg.Environment),
		Password:     generated.DatabasePassword,
		StorageSize:  p.StorageSize,
		StorageClass: p.StorageClass,
		Resources:    resources(p.Resources),
	}
	if b := p.Backup; b.Enabled {
		args.Backup = &database.Backup{Schedule: b.Schedule, Retention: b.Retention, StorageSize: b.StorageSize}
		if s := b.S3; s.Enabled() {
			args.Backup.S3 = &database.S3{
				Endpoint: s.Endpoint, Bucket: s.Bucket, Prefix: s.Prefix, Region: s.Region,
				AccessKeyID:     pulumi.String(s.AccessKeyID),
				SecretAccessKey: pulumi.ToSecret(pulumi.String(s.SecretAccessKey)).(pulumi.StringOutput),
			}
		}
	}
	return args
}

// appDatabaseURL is the app's DATABASE_URL, a secret: the in-cluster PostgreSQL's when the stack runs it
// (composed before the server exists, since the app's Secret holds it and the app creates the
// namespace the server goes into), the configured `databaseUrl` otherwise.
func appDatabaseURL(cfg *stacks.Config, generated *secrets.Secrets) pulumi.StringOutput {
	if !cfg.Postgres.Enabled {
		return pulumi.ToSecret(pulumi.String(cfg.Database.URL)).(pulumi.StringOutput)
	}
	return database.URLFor(databaseName(cfg), cfg.Target.Namespace, databaseArgs(cfg, generated))
}

// deployDatabase deploys the in-cluster PostgreSQL into the app's namespace when the stack runs it,
// reachable from the app's pods only.
func deployDatabase(ctx *pulumi.Context, cfg *stacks.Config, provider pulumi.ProviderResource, generated *secrets.Secrets, nexios *app.App) error {
	if !cfg.Postgres.Enabled {
		return nil
	}
	args := databaseArgs(cfg, generated)
	args.Namespace = nexios.Namespace
	args.ClientPods = nexios.PodLabels
	if _, err := database.NewDatabase(ctx, databaseName(cfg), args, pulumi.Provider(provider)); err != nil {
		return fmt.Errorf("deploying the database: %w", err)
	}
	return nil
}
