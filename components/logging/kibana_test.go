package logging

import (
	"strings"
	"testing"
)

func TestKibana(t *testing.T) {
	tests := []struct {
		name         string
		args         LoggingArgs
		replicas     float64
		ingress      bool
		publicURL    string
		antiAffinity int
		pdb          bool
	}{
		{"dev", devArgs(), 1, false, "", 0, false},
		{"prod", prodArgs(), 2, true, "https://logs.example.com", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := deploy(t, tt.args)
			d := m.Find(t, tDeployment, "logs-kibana")
			if got := d.Number("spec.replicas"); got != tt.replicas {
				t.Errorf("replicas = %v, want %v", got, tt.replicas)
			}
			c := "spec.template.spec.containers[0]"
			if img := d.String(c + ".image"); img != KibanaImage {
				t.Errorf("image %q", img)
			}
			e := env(d, c)
			if e["ELASTICSEARCH_USERNAME"] != "kibana_system" || e["ELASTICSEARCH_PASSWORD"] != "secret:"+SecretKeyKibanaPassword {
				t.Errorf("credentials %q / %q, want kibana_system from the credentials Secret", e["ELASTICSEARCH_USERNAME"], e["ELASTICSEARCH_PASSWORD"])
			}
			if !strings.HasPrefix(e["ELASTICSEARCH_HOSTS"], `["https://`) || e["ELASTICSEARCH_SSL_VERIFICATIONMODE"] != "full" {
				t.Errorf("hosts %q, verification %q", e["ELASTICSEARCH_HOSTS"], e["ELASTICSEARCH_SSL_VERIFICATIONMODE"])
			}
			for _, k := range kibanaKeys {
				if e[k.env] != "secret:"+k.key {
					t.Errorf("%s = %q: every replica needs the same key", k.env, e[k.env])
				}
			}
			if got := e["SERVER_PUBLICBASEURL"]; got != tt.publicURL {
				t.Errorf("public base URL = %q, want %q", got, tt.publicURL)
			}
			if got := m.Has(tIngress, "logs-kibana"); got != tt.ingress {
				t.Errorf("ingress = %v, want %v", got, tt.ingress)
			}
			if got := d.Len("spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution"); got != tt.antiAffinity {
				t.Errorf("anti-affinity terms = %d, want %d", got, tt.antiAffinity)
			}
			if !d.IsSecret(`spec.template.metadata.annotations["checksum/config"]`) {
				t.Error("the password checksum is missing or not secret: a rotated password would not restart Kibana")
			}
			// Replicated Kibana keeps one replica serving through a drain; a single one gets no
			// budget, which would block every drain.
			if got := m.Has(tPDB, "logs-kibana-pdb"); got != tt.pdb {
				t.Fatalf("Kibana PDB = %v, want %v", got, tt.pdb)
			}
			if tt.pdb {
				pdb := m.Find(t, tPDB, "logs-kibana-pdb")
				if got := pdb.Number("spec.maxUnavailable"); got != 1 {
					t.Errorf("maxUnavailable = %v, want 1", got)
				}
				if got := pdb.String(`spec.selector.matchLabels["app.kubernetes.io/name"]`); got != partKibana || pdb.Len("spec.selector.matchLabels") != 2 {
					t.Errorf("PDB selects %v, want Kibana's pods", pdb.String("spec.selector"))
				}
				if got := pdb.String("spec.unhealthyPodEvictionPolicy"); got != "AlwaysAllow" {
					t.Errorf("unhealthyPodEvictionPolicy = %q, want AlwaysAllow", got)
				}
				if got := pdb.String("metadata.namespace"); got != "logging" {
					t.Errorf("PDB in %q", got)
				}
			}
			// Liveness restarts a Kibana that no longer listens; readiness takes it out of the
			// Service while Elasticsearch is unavailable.
			if d.Len(c+".livenessProbe.tcpSocket") == 0 || d.String(c+".readinessProbe.httpGet.path") != "/api/status" {
				t.Errorf("liveness %v, readiness %v: want a TCP check and /api/status", d.String(c+".livenessProbe"), d.String(c+".readinessProbe"))
			}
			if got, want := d.String(c+`.resources.limits["ephemeral-storage"]`), kibanaEphemeralStorage.Limit; got != want {
				t.Errorf("ephemeral-storage limit %q, want %q", got, want)
			}
		})
	}
	m, _ := deploy(t, prodArgs())
	in := m.Find(t, tIngress, "logs-kibana")
	if in.String("spec.rules[0].host") != "logs.example.com" || in.String("spec.tls[0].secretName") != "logs-tls" || in.String("spec.ingressClassName") != "nginx" {
		t.Errorf("ingress host %q, tls %q, class %q", in.String("spec.rules[0].host"), in.String("spec.tls[0].secretName"), in.String("spec.ingressClassName"))
	}
}
