package stacks

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const image = "ghcr.io/nexios-labs/nexios-app:1.4.2"

// settings builds the map Pulumi hands a program; values that are not strings are encoded as JSON.
func settings(t *testing.T, secret map[string]bool, kv map[string]any) map[string]Setting {
	t.Helper()
	out := map[string]Setting{}
	for k, v := range kv {
		s, ok := v.(string)
		if !ok {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("encoding %s: %v", k, err)
			}
			s = string(b)
		}
		out[k] = Setting{Value: s, Secret: secret[k]}
	}
	return out
}

func TestParseDefaultsPerEnvironment(t *testing.T) {
	tests := []struct {
		stack string
		extra map[string]any
		check func(t *testing.T, c *Config)
	}{
		{"dev", nil, func(t *testing.T, c *Config) {
			expect(t, "environment", c.Environment, Dev)
			expect(t, "replicas", c.App.Replicas, 1)
			expect(t, "autoscaling", c.App.Autoscaling.Enabled, false)
			expect(t, "pdb", c.App.Disruption.Enabled, false)
			expect(t, "namespace", c.Target.Namespace, "nexios-dev")
			expect(t, "database", c.Database.URL, "")
			expect(t, "postgres", c.Postgres.Enabled, true)
			expect(t, "postgres backup", c.Postgres.Backup, Backup{Schedule: "0 2 * * *", Retention: 3, StorageSize: "2Gi"})
			expect(t, "port", c.App.Port, 8000)
			expect(t, "cpu target", c.App.Autoscaling.CPUUtilization, 70)
			expect(t, "retention", c.Logging.RetentionDays, 3)
			expect(t, "snapshots", c.Logging.Snapshots.Enabled, false)
		}},
		{"prod", map[string]any{"nexios:databaseUrl": "postgresql://u:p@db:5432/app"}, func(t *testing.T, c *Config) {
			expect(t, "environment", c.Environment, Prod)
			expect(t, "autoscaling", c.App.Autoscaling.Enabled, true)
			expect(t, "min", c.App.Autoscaling.MinReplicas, 3)
			expect(t, "pdb", c.App.Disruption.Enabled, true)
			expect(t, "zones", c.App.HighAvailability.SpreadAcrossZones, true)
			expect(t, "egress", c.App.NetworkPolicy.RestrictEgress, true)
			expect(t, "database", c.Database.URL, "postgresql://u:p@db:5432/app")
			expect(t, "postgres", c.Postgres.Enabled, false)
			expect(t, "postgres backup", c.Postgres.Backup, Backup{Enabled: true, Schedule: "0 2 * * *", Retention: 7, StorageSize: "50Gi"})
			expect(t, "retention", c.Logging.RetentionDays, 30)
			expect(t, "snapshots", c.Logging.Snapshots, Snapshots{Enabled: true, Schedule: "0 30 1 * * ?", ExpireAfterDays: 30, MinCount: 5, MaxCount: 50, StorageSize: "200Gi"})
		}},
		{"team-a-prod", map[string]any{"nexios:databaseUrl": "postgresql://db/app"}, func(t *testing.T, c *Config) {
			expect(t, "environment from name suffix", c.Environment, Prod)
			expect(t, "namespace", c.Target.Namespace, "nexios-team-a-prod")
		}},
		{"dev", map[string]any{"nexios:postgres": map[string]any{"enabled": false}}, func(t *testing.T, c *Config) {
			expect(t, "SQLite without the in-cluster PostgreSQL", c.Database.URL, defaultDatabaseURL)
		}},
		{"prod", map[string]any{"nexios:postgres": map[string]any{"enabled": true, "storageClass": "fast-ssd"}}, func(t *testing.T, c *Config) {
			expect(t, "no databaseUrl needed", c.Database.URL, "")
			expect(t, "storage class", c.Postgres.StorageClass, "fast-ssd")
			expect(t, "backups on by default", c.Postgres.Backup.Enabled, true)
		}},
		{"staging", map[string]any{"nexios:environment": "prod", "nexios:databaseUrl": "postgresql://db/app"}, func(t *testing.T, c *Config) {
			expect(t, "environment from key", c.Environment, Prod)
		}},
		{"dev", map[string]any{"nexios:app": map[string]any{
			"image": image, "replicas": 2,
			"autoscaling": map[string]any{"customMetrics": map[string]any{"http_requests_per_second": 50}},
		}}, func(t *testing.T, c *Config) {
			expect(t, "override", c.App.Replicas, 2)
			expect(t, "sibling default kept", c.App.Port, 8000)
			expect(t, "nested default kept", c.App.Autoscaling.CPUUtilization, 70)
			expect(t, "numeric quantity", c.App.Autoscaling.CustomMetrics["http_requests_per_second"], Quantity("50"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.stack, func(t *testing.T) {
			kv := map[string]any{"nexios:app": map[string]any{"image": image}}
			for k, v := range tt.extra {
				kv[k] = v
			}
			cfg, err := Parse(tt.stack, settings(t, map[string]bool{"nexios:databaseUrl": true}, kv))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestParseRejectsBadInput(t *testing.T) {
	app := func(extra map[string]any) map[string]any {
		a := map[string]any{"image": image}
		for k, v := range extra {
			a[k] = v
		}
		return a
	}
	tests := []struct {
		name    string
		stack   string
		kv      map[string]any
		secret  map[string]bool
		wantKey string
		wantMsg string
	}{
		{"unknown top-level key", "dev", map[string]any{"nexios:ap": app(nil)}, nil, "nexios:ap", `did you mean "app"`},
		{"misspelled nested key", "dev", map[string]any{"nexios:app": app(map[string]any{"replcas": 2})}, nil, "nexios:app.replcas", `did you mean "replicas"`},
		{"misspelled deep key", "dev", map[string]any{"nexios:app": app(map[string]any{"autoscaling": map[string]any{"maxReplica": 3}})}, nil, "nexios:app.autoscaling.maxReplica", `did you mean "maxReplicas"`},
		{"wrong type", "dev", map[string]any{"nexios:app": app(map[string]any{"replicas": "three"})}, nil, "nexios:app.replicas", "expected a whole number"},
		{"section not a mapping", "dev", map[string]any{"nexios:app": app(nil), "nexios:target": "cluster-a"}, nil, "nexios:target", "must be a mapping"},
		{"unknown environment", "dev", map[string]any{"nexios:app": app(nil), "nexios:environment": "qa"}, nil, "nexios:environment", "use dev or prod"},
		{"stack names no environment", "staging", map[string]any{"nexios:app": app(nil)}, nil, "nexios:environment", "pulumi config set nexios:environment dev"},
		{"default provider key", "dev", map[string]any{"nexios:app": app(nil), "kubernetes:context": "kind"}, nil, "kubernetes:context", "nexios:target"},
		{"missing image", "dev", map[string]any{"nexios:app": map[string]any{"replicas": 1}}, nil, "nexios:app.image", "pulumi config set --path app.image"},
		{"image without tag", "dev", map[string]any{"nexios:app": map[string]any{"image": "ghcr.io/acme/nexios"}}, nil, "nexios:app.image", "no tag or digest"},
		{"latest in prod", "prod", map[string]any{"nexios:app": map[string]any{"image": "nexios:latest"}, "nexios:databaseUrl": "postgresql://db/x"}, map[string]bool{"nexios:databaseUrl": true}, "nexios:app.image", "mutable tag latest"},
		{"uppercase image", "dev", map[string]any{"nexios:app": map[string]any{"image": "GHCR.io/Acme/app:1"}}, nil, "nexios:app.image", "not a valid image reference"},
		{"max below min", "dev", map[string]any{"nexios:app": app(map[string]any{"autoscaling": map[string]any{"enabled": true, "minReplicas": 5, "maxReplicas": 2}})}, nil, "nexios:app.autoscaling.maxReplicas", "below minReplicas"},
		{"autoscaling without metric", "dev", map[string]any{"nexios:app": app(map[string]any{"autoscaling": map[string]any{"enabled": true, "cpuUtilization": 0}})}, nil, "nexios:app.autoscaling", "no metric"},
		{"bad custom metric", "dev", map[string]any{"nexios:app": app(map[string]any{"autoscaling": map[string]any{"enabled": true, "customMetrics": map[string]any{"http-rps": "x"}}})}, nil, "nexios:app.autoscaling.customMetrics.http-rps", "not a valid Prometheus metric name"},
		{"cpu limit below request", "dev", map[string]any{"nexios:app": app(map[string]any{"resources": map[string]any{"requests": map[string]any{"cpu": "2"}, "limits": map[string]any{"cpu": "500m"}}})}, nil, "nexios:app.resources.limits.cpu", "below the request"},
		{"memory limit below request", "dev", map[string]any{"nexios:app": app(map[string]any{"resources": map[string]any{"requests": map[string]any{"memory": "1Gi"}, "limits": map[string]any{"memory": "512Mi"}}})}, nil, "nexios:app.resources.limits.memory", "below the request"},
		{"bad quantity", "dev", map[string]any{"nexios:app": app(map[string]any{"resources": map[string]any{"requests": map[string]any{"memory": "lots"}}})}, nil, "nexios:app.resources.requests.memory", "not a Kubernetes quantity"},
		{"prod without database url", "prod", map[string]any{"nexios:app": app(nil)}, nil, "nexios:databaseUrl", "pulumi config set --secret nexios:databaseUrl"},
		{"plaintext database url", "dev", map[string]any{"nexios:app": app(nil), "nexios:databaseUrl": "postgresql://u:hunter2@db/x"}, nil, "nexios:databaseUrl", "plain text"},
		{"plaintext secret env", "dev", map[string]any{"nexios:app": app(map[string]any{"secretEnv": map[string]any{"API_TOKEN": "t0k3n"}})}, nil, "nexios:app.secretEnv.API_TOKEN", "pulumi config set --secret --path 'app.secretEnv.API_TOKEN'"},
		{"managed env var", "dev", map[string]any{"nexios:app": app(map[string]any{"env": map[string]any{"DATABASE_URL": "x"}})}, nil, "nexios:app.env.DATABASE_URL", "nexios:databaseUrl"},
		{"invalid env name", "dev", map[string]any{"nexios:app": app(map[string]any{"env": map[string]any{"1BAD": "x"}})}, nil, "nexios:app.env.1BAD", "not a valid environment variable name"},
		{"port out of range", "dev", map[string]any{"nexios:app": app(map[string]any{"port": 70000})}, nil, "nexios:app.port", "between 1 and 65535"},
		{"service type", "dev", map[string]any{"nexios:app": app(map[string]any{"service": map[string]any{"type": "External"}})}, nil, "nexios:app.service.type", "ClusterIP, NodePort, LoadBalancer"},
		{"nodePort with ClusterIP", "dev", map[string]any{"nexios:app": app(map[string]any{"service": map[string]any{"nodePort": 30080}})}, nil, "nexios:app.service.nodePort", "only used with type NodePort"},
		{"ingress without host", "dev", map[string]any{"nexios:app": app(map[string]any{"ingress": map[string]any{"enabled": true}})}, nil, "nexios:app.ingress.host", "required when the ingress is enabled"},
		{"probe path", "dev", map[string]any{"nexios:app": app(map[string]any{"probes": map[string]any{"readiness": map[string]any{"path": "ready"}}})}, nil, "nexios:app.probes.readiness.path", "absolute path"},
		{"probe timeout above period", "dev", map[string]any{"nexios:app": app(map[string]any{"probes": map[string]any{"liveness": map[string]any{"timeoutSeconds": 30}}})}, nil, "nexios:app.probes.liveness.timeoutSeconds", "between 1 and periodSeconds"},
		{"zero surge", "dev", map[string]any{"nexios:app": app(map[string]any{"rollout": map[string]any{"maxSurge": "0"}})}, nil, "nexios:app.rollout.maxSurge", "must be above 0"},
		{"bake shorter than two scrapes", "dev", map[string]any{"nexios:app": app(map[string]any{"rollout": map[string]any{"bakeSeconds": 30}})}, nil, "nexios:app.rollout.bakeSeconds", "must be between 60 (two of Prometheus' 30-second scrapes) and 3600 (an hour), got 30"},
		{"bake longer than an hour", "prod", map[string]any{"nexios:app": app(map[string]any{"rollout": map[string]any{"bakeSeconds": 7200}})}, nil, "nexios:app.rollout.bakeSeconds", "got 7200"},
		{"pdb blocking drains", "prod", map[string]any{"nexios:app": app(map[string]any{"disruptionBudget": map[string]any{"maxUnavailable": "0%"}}), "nexios:databaseUrl": "postgresql://db/x"}, map[string]bool{"nexios:databaseUrl": true}, "nexios:app.disruptionBudget.maxUnavailable", "block every node drain"},
		{"rwo volume with many pods", "prod", map[string]any{"nexios:app": app(map[string]any{"volumes": []any{map[string]any{"name": "data", "mountPath": "/data", "size": "1Gi", "accessMode": "ReadWriteOnce"}}}), "nexios:databaseUrl": "postgresql://db/x"}, map[string]bool{"nexios:databaseUrl": true}, "nexios:app.volumes[0].accessMode", "up to 10 pods"},
		{"quota too small", "prod", map[string]any{"nexios:app": app(map[string]any{"quota": map[string]any{"requestsCpu": "1"}}), "nexios:databaseUrl": "postgresql://db/x"}, map[string]bool{"nexios:databaseUrl": true}, "nexios:app.quota.requestsCpu", "below what 13 pods"},
		{"render and context", "dev", map[string]any{"nexios:app": app(nil), "nexios:target": map[string]any{"renderYamlTo": "out", "context": "prod-cluster"}}, nil, "nexios:target.renderYamlTo", "cannot be combined"},
		{"namespace name", "dev", map[string]any{"nexios:app": app(nil), "nexios:target": map[string]any{"namespace": "Nexios_Dev"}}, nil, "nexios:target.namespace", "not a valid Kubernetes name"},
		{"wildcard verb", "dev", map[string]any{"nexios:app": app(map[string]any{"serviceAccount": map[string]any{"rules": []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"}, "verbs": []any{"*"}}}}})}, nil, "nexios:app.serviceAccount.rules[0].verbs", "every verb"},
		{"monitoring mode", "dev", map[string]any{"nexios:app": app(nil), "nexios:monitoring": map[string]any{"mode": "sidecar"}}, nil, "nexios:monitoring.mode", "bundled"},
		{"plaintext webhook", "dev", map[string]any{"nexios:app": app(nil), "nexios:monitoring": map[string]any{"alertmanager": map[string]any{"webhookUrl": "https://hooks.example.com/x"}}}, nil, "nexios:monitoring.alertmanager.webhookUrl", "plain text"},
		{"two elasticsearch nodes", "dev", map[string]any{"nexios:app": app(nil), "nexios:logging": map[string]any{"enabled": true, "elasticsearch": map[string]any{"replicas": 2}}}, nil, "nexios:logging.elasticsearch.replicas", "1 or at least 3"},
		{"snapshot cron without seconds", "dev", map[string]any{"nexios:app": app(nil), "nexios:logging": map[string]any{"enabled": true, "snapshots": map[string]any{"enabled": true, "schedule": "30 1 * * *"}}}, nil, "nexios:logging.snapshots.schedule", "seconds first"},
		{"snapshot max below min", "dev", map[string]any{"nexios:app": app(nil), "nexios:logging": map[string]any{"enabled": true, "snapshots": map[string]any{"enabled": true, "minCount": 10, "maxCount": 5}}}, nil, "nexios:logging.snapshots.maxCount", "at least minCount (10)"},
		{"snapshot size", "dev", map[string]any{"nexios:app": app(nil), "nexios:logging": map[string]any{"enabled": true, "snapshots": map[string]any{"enabled": true, "storageSize": "big"}}}, nil, "nexios:logging.snapshots.storageSize", "not a Kubernetes quantity"},
		{"zero retention", "dev", map[string]any{"nexios:app": app(nil), "nexios:logging": map[string]any{"enabled": true, "retentionDays": 0}}, nil, "nexios:logging.retentionDays", "at least 1"},
		{"postgres beside databaseUrl", "dev", map[string]any{"nexios:app": app(nil), "nexios:databaseUrl": "postgresql://db/x"}, map[string]bool{"nexios:databaseUrl": true}, "nexios:postgres.enabled", "pulumi config rm nexios:databaseUrl -s dev"},
		{"postgres beside databaseUrl names the other fix", "prod", map[string]any{"nexios:app": app(nil), "nexios:databaseUrl": "postgresql://db/x", "nexios:postgres": map[string]any{"enabled": true}}, map[string]bool{"nexios:databaseUrl": true}, "nexios:postgres.enabled", "pulumi config set --path nexios:postgres.enabled false -s prod"},
		{"bucket without its endpoint", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": bucketBackup(map[string]any{"endpoint": ""})}, map[string]bool{"nexios:postgres": true}, "nexios:postgres.backup.s3.endpoint", "pulumi config set --path nexios:postgres.backup.s3.endpoint https://"},
		{"bucket endpoint with the bucket in it", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": bucketBackup(map[string]any{"endpoint": "https://s3.example.com/backups"})}, map[string]bool{"nexios:postgres": true}, "nexios:postgres.backup.s3.endpoint", "the bucket goes in Bucket"},
		{"bucket name", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": bucketBackup(map[string]any{"bucket": "My_Backups"})}, map[string]bool{"nexios:postgres": true}, "nexios:postgres.backup.s3.bucket", "not a bucket name"},
		{"bucket prefix", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": bucketBackup(map[string]any{"prefix": "/nexios"})}, map[string]bool{"nexios:postgres": true}, "nexios:postgres.backup.s3.prefix", "must not start with /"},
		{"bucket without a secret key", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": bucketBackup(map[string]any{"secretAccessKey": ""})}, map[string]bool{"nexios:postgres": true}, "nexios:postgres.backup.s3.secretAccessKey", "pulumi config set --secret --path nexios:postgres.backup.s3.secretAccessKey <key> -s dev"},
		{"bucket secret key in plain text", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": bucketBackup(nil)}, nil, "nexios:postgres.backup.s3.secretAccessKey", "stored in plain text"},
		{"postgres storage size", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": map[string]any{"storageSize": "1 GB"}}, nil, "nexios:postgres.storageSize", "not a Kubernetes quantity"},
		{"postgres zero storage", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": map[string]any{"storageSize": "0"}}, nil, "nexios:postgres.storageSize", "above 0"},
		{"postgres storage class", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": map[string]any{"storageClass": "Fast_SSD"}}, nil, "nexios:postgres.storageClass", "not a valid StorageClass name"},
		{"postgres memory limit below request", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "128Mi"}}}}, nil, "nexios:postgres.resources.limits.memory", "below the request"},
		{"backup cron with seconds", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": map[string]any{"backup": map[string]any{"enabled": true, "schedule": "0 0 2 * * *"}}}, nil, "nexios:postgres.backup.schedule", "6 fields, want 5"},
		{"backup cron out of range", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": map[string]any{"backup": map[string]any{"enabled": true, "schedule": "0 24 * * *"}}}, nil, "nexios:postgres.backup.schedule", "hour: 24 is not between 0 and 23"},
		{"backup cron descriptor", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": map[string]any{"backup": map[string]any{"enabled": true, "schedule": "@fortnightly"}}}, nil, "nexios:postgres.backup.schedule", "unknown descriptor"},
		{"backup retention", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": map[string]any{"backup": map[string]any{"enabled": true, "retention": 0}}}, nil, "nexios:postgres.backup.retention", "at least 1"},
		{"backup storage size", "dev", map[string]any{"nexios:app": app(nil), "nexios:postgres": map[string]any{"backup": map[string]any{"enabled": true, "storageSize": "lots"}}}, nil, "nexios:postgres.backup.storageSize", "not a Kubernetes quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(tt.stack, settings(t, tt.secret, tt.kv))
			if err == nil {
				t.Fatalf("Parse accepted bad input, got %+v", cfg)
			}
			var cerr *ConfigError
			if !errors.As(err, &cerr) {
				t.Fatalf("error is %T, want *ConfigError: %v", err, err)
			}
			for _, p := range cerr.Problems {
				if p.Key == tt.wantKey && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Errorf("no problem with key %q and message containing %q in:\n%v", tt.wantKey, tt.wantMsg, err)
		})
	}
}

// bucketBackup is a postgres section with backups into a bucket, changed by change (an empty value
// leaves the key out).
func bucketBackup(change map[string]any) map[string]any {
	s3 := map[string]any{"endpoint": "https://s3.eu-west-3.amazonaws.com", "bucket": "nexios-backups", "prefix": "nexios/dev/",
		"region": "eu-west-3", "accessKeyId": "AKIANEXIOS", "secretAccessKey": "the-key"}
	for k, v := range change {
		if v == "" {
			delete(s3, k)
		} else {
			s3[k] = v
		}
	}
	return map[string]any{"backup": map[string]any{"enabled": true, "s3": s3}}
}

func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Parse("prod", settings(t, nil, map[string]any{
		"nexios:app": map[string]any{"image": "nexios", "port": 0, "autoscaling": map[string]any{"minReplicas": 4, "maxReplicas": 2}},
	}))
	var cerr *ConfigError
	if !errors.As(err, &cerr) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	want := []string{"nexios:app.image", "nexios:app.port", "nexios:app.autoscaling.maxReplicas", "nexios:databaseUrl"}
	for _, key := range want {
		found := false
		for _, p := range cerr.Problems {
			found = found || p.Key == key
		}
		if !found {
			t.Errorf("missing problem for %s in:\n%v", key, err)
		}
	}
	if !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("error should say nothing was changed: %v", err)
	}
}

func TestDatabaseURLNeverEchoed(t *testing.T) {
	const url = "not a url with hunter2"
	_, err := Parse("dev", settings(t, nil, map[string]any{"nexios:app": map[string]any{"image": image}, "nexios:databaseUrl": url}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("want an error that hides the value, got %v", err)
	}
}

func TestParseQuantity(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"250m", 0.25, true}, {"1", 1, true}, {"512Mi", 512 << 20, true}, {"2Gi", 2 << 30, true},
		{"1e3", 1000, true}, {"1.5", 1.5, true}, {"10k", 10000, true}, {"lots", 0, false}, {"1GB", 0, false}, {"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseQuantity(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseQuantity(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func expect[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
