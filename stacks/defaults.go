package stacks

import "fmt"

// Defaults returns the profile of an environment for a stack: the Config a stack file with no keys but
// `app.image` would produce. Stack files override it key by key.
func Defaults(env Environment, stack string) (Config, error) {
	switch env {
	case Dev:
		return devDefaults(stack), nil
	case Prod:
		return prodDefaults(stack), nil
	default:
		return Config{}, fmt.Errorf("unknown environment %q", env)
	}
}

// commonDefaults holds what both environments share: the course chapter's conventions (port 8000,
// service port 80, CPU target 70%) and the Nexios app's endpoints.
func commonDefaults(stack string) Config {
	return Config{
		Stack: stack,
		Target: Target{
			// One namespace per stack, so dev and prod can share a cluster without colliding.
			Namespace: "nexios-" + stack,
		},
		App: App{
			Name:            "nexios",
			Port:            8000,
			ConfigMountPath: "/etc/nexios",
			Probes: Probes{
				Liveness:  Probe{Path: "/health", PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 3},
				Readiness: Probe{Path: "/ready", PeriodSeconds: 5, TimeoutSeconds: 2, FailureThreshold: 3},
				// Startup gives a cold Python process up to 60 s before liveness may kill it.
				Startup: Probe{Path: "/health", PeriodSeconds: 2, TimeoutSeconds: 2, FailureThreshold: 30},
			},
			Metrics: Metrics{Path: "/metrics"},
			Rollout: Rollout{
				MaxSurge:                "25%",
				RevisionHistoryLimit:    10,
				ProgressDeadlineSeconds: 600,
				// Endpoint removal propagates asynchronously; sleeping first avoids dropped requests.
				PreStopSleepSeconds:           5,
				TerminationGracePeriodSeconds: 30,
				BakeSeconds:                   60,
			},
			Autoscaling: Autoscaling{
				CPUUtilization: 70,
				Behavior: ScalingBehavior{
					ScaleUpStabilizationSeconds:   0,
					ScaleDownStabilizationSeconds: 300,
					ScaleUpPercent:                100,
					ScaleDownPercent:              50,
					PeriodSeconds:                 60,
				},
			},
			Disruption:       Disruption{MaxUnavailable: "1"},
			HighAvailability: HighAvailability{AntiAffinity: "none"},
			Service:          Service{Type: "ClusterIP", Port: 80},
			Ingress:          Ingress{ClassName: "nginx", Path: "/"},
			NetworkPolicy: NetworkPolicy{
				Enabled:                    true,
				IngressControllerNamespace: "ingress-nginx",
				// PostgreSQL and HTTPS cover the app's usual dependencies when egress is restricted.
				EgressPorts: []int{5432, 443},
			},
			LimitRange: LimitRange{Enabled: true},
		},
		Monitoring: Monitoring{
			Enabled:   true,
			Namespace: "monitoring",
			Mode:      "bundled",
			Alerts: Alerts{
				ErrorRatePercent:    5,
				LatencyP95Seconds:   0.5,
				RestartsPerHour:     3,
				PVCUsagePercent:     85,
				HPAAtMaxForMinutes:  15,
				ErrorRateForMinutes: 5,
				LatencyForMinutes:   10,
			},
		},
		Postgres: Postgres{
			Backup: Backup{
				// Daily at 02:00 UTC, after the Elasticsearch snapshots' 01:30.
				Schedule: "0 2 * * *",
			},
		},
		Logging: Logging{
			Namespace: "logging",
			Snapshots: Snapshots{
				// Daily, at night in UTC; a month of daily snapshots, never fewer than a working week's.
				Schedule:        "0 30 1 * * ?",
				ExpireAfterDays: 30,
				MinCount:        5,
				MaxCount:        50,
			},
		},
	}
}

// devDefaults: one small replica of everything, short retention, open egress.
func devDefaults(stack string) Config {
	c := commonDefaults(stack)
	c.Environment = Dev
	c.App.Replicas = 1
	c.App.Resources = Resources{
		Requests: ResourceList{CPU: "100m", Memory: "128Mi"},
		Limits:   ResourceList{CPU: "500m", Memory: "256Mi"},
	}
	// The HPA and PDB stay declared but off: with one replica a PDB would block every node drain.
	c.App.Autoscaling.MinReplicas = 1
	c.App.Autoscaling.MaxReplicas = 3
	c.Monitoring.Retention = "2d"
	c.Monitoring.RetentionSize = "1GB"
	c.Monitoring.Alertmanager.Replicas = 1
	c.Monitoring.Adapter.Replicas = 1
	c.Monitoring.Prometheus.Resources = Resources{
		Requests: ResourceList{CPU: "200m", Memory: "512Mi"},
		Limits:   ResourceList{CPU: "1", Memory: "1Gi"},
	}
	c.Logging.RetentionDays = 3
	c.Logging.Elasticsearch = Elasticsearch{
		Replicas: 1,
		Resources: Resources{
			Requests: ResourceList{CPU: "250m", Memory: "1Gi"},
			Limits:   ResourceList{CPU: "1", Memory: "1Gi"},
		},
		StorageSize: "5Gi",
	}
	c.Logging.Kibana.Replicas = 1
	// On: `make up` gives the app a real database with no outside service. Backups off: dev data is
	// scratch, and a week of dumps would only fill the node's disk.
	c.Postgres.Enabled = true
	c.Postgres.StorageSize = "1Gi"
	c.Postgres.Resources = Resources{
		Requests: ResourceList{CPU: "100m", Memory: "256Mi"},
		Limits:   ResourceList{CPU: "500m", Memory: "512Mi"},
	}
	c.Postgres.Backup.Retention = 3
	c.Postgres.Backup.StorageSize = "2Gi"
	// Off: dev logs are not worth a shared volume, and few dev clusters provision ReadWriteMany.
	c.Logging.Snapshots.StorageSize = "10Gi"
	return c
}

// prodDefaults: HA across zones, autoscaling, disruption budget, quota, restricted egress, long retention.
func prodDefaults(stack string) Config {
	c := commonDefaults(stack)
	c.Environment = Prod
	c.App.Replicas = 3
	c.App.Resources = Resources{
		Requests: ResourceList{CPU: "250m", Memory: "256Mi"},
		Limits:   ResourceList{CPU: "1", Memory: "512Mi"},
	}
	c.App.Autoscaling.Enabled = true
	c.App.Autoscaling.MinReplicas = 3
	c.App.Autoscaling.MaxReplicas = 10
	c.App.Disruption.Enabled = true
	c.App.HighAvailability = HighAvailability{SpreadAcrossZones: true, SpreadAcrossNodes: true, AntiAffinity: "preferred"}
	c.App.NetworkPolicy.RestrictEgress = true
	// A prod ingress serves HTTPS; the certificate comes from tls.secretName or tls.clusterIssuer.
	c.App.Ingress.TLS.Enabled = true
	// Long enough for an error budget to show at modest traffic and for the restarts of a slow leak.
	c.App.Rollout.BakeSeconds = 300
	// Room for max replicas plus a full rolling-update surge.
	c.App.Quota = Quota{Enabled: true, RequestsCPU: "4", RequestsMemory: "8Gi", LimitsCPU: "16", LimitsMemory: "16Gi", Pods: 30}
	c.Monitoring.Retention = "15d"
	c.Monitoring.RetentionSize = "45GB"
	c.Monitoring.StorageSize = "50Gi"
	c.Monitoring.Alertmanager.Replicas = 2
	// Two adapters: while the custom metrics API is down the HPA cannot scale on them.
	c.Monitoring.Adapter.Replicas = 2
	c.Monitoring.Prometheus.Resources = Resources{
		Requests: ResourceList{CPU: "500m", Memory: "2Gi"},
		Limits:   ResourceList{CPU: "2", Memory: "4Gi"},
	}
	c.Logging.Enabled = true
	c.Logging.RetentionDays = 30
	c.Logging.Elasticsearch = Elasticsearch{
		Replicas: 3,
		Resources: Resources{
			Requests: ResourceList{CPU: "1", Memory: "4Gi"},
			Limits:   ResourceList{CPU: "2", Memory: "4Gi"},
		},
		StorageSize: "100Gi",
	}
	// Two Kibanas: log search stays up while one is rescheduled.
	c.Logging.Kibana.Replicas = 2
	c.Logging.Snapshots.Enabled = true
	// Room for the month of snapshots the retention keeps: snapshots are incremental, so this is about
	// the primary data (at most half of the three 100Gi volumes, with one replica per shard) plus a
	// month of new segments.
	c.Logging.Snapshots.StorageSize = "200Gi"
	// Off: prod keeps the managed database of `databaseUrl`. A prod stack that turns it on gets a
	// week of daily dumps by default.
	c.Postgres.StorageSize = "20Gi"
	c.Postgres.Resources = Resources{
		Requests: ResourceList{CPU: "250m", Memory: "512Mi"},
		Limits:   ResourceList{CPU: "1", Memory: "1Gi"},
	}
	c.Postgres.Backup.Enabled = true
	c.Postgres.Backup.Retention = 7
	c.Postgres.Backup.StorageSize = "50Gi"
	return c
}

// defaultDatabaseURL is what dev uses without a `databaseUrl` and with postgres.enabled off: SQLite on the pod's writable /tmp, so
// a fresh dev stack runs with no database server and no secret to set.
const defaultDatabaseURL = "sqlite:////tmp/nexios.db"
