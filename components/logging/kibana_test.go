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
	}{
		{"dev", devArgs(), 1, false, "", 0},
		{"prod", prodArgs(), 2, true, "https://logs.example.com", 1},
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
		})
	}
	m, _ := deploy(t, prodArgs())
	in := m.Find(t, tIngress, "logs-kibana")
	if in.String("spec.rules[0].host") != "logs.example.com" || in.String("spec.tls[0].secretName") != "logs-tls" || in.String("spec.ingressClassName") != "nginx" {
		t.Errorf("ingress host %q, tls %q, class %q", in.String("spec.rules[0].host"), in.String("spec.tls[0].secretName"), in.String("spec.ingressClassName"))
	}
}
