package logging

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func parsePEM(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		t.Fatalf("not PEM: %q", s)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parsing certificate: %v", err)
	}
	return cert
}

// The same seed must give byte-identical files, or every `up` would rewrite the Secret.
func TestCertificatesAreDeterministic(t *testing.T) {
	names := []string{"*.es-discovery.logging.svc.cluster.local", "*.logging.svc"}
	a, err := nodeCertificates("seed-a", names)
	if err != nil {
		t.Fatal(err)
	}
	again, err := nodeCertificates("seed-a", names)
	if err != nil {
		t.Fatal(err)
	}
	if a != again {
		t.Error("the same seed derived different certificates")
	}
	b, err := nodeCertificates("seed-b", names)
	if err != nil {
		t.Fatal(err)
	}
	if a.CA == b.CA || a.Key == b.Key {
		t.Error("different seeds derived the same CA or key")
	}
	ca, err := caCertificate("seed-a")
	if err != nil || ca != a.CA {
		t.Errorf("caCertificate differs from the node bundle's CA: %v", err)
	}
	if _, err := nodeCertificates("", names); err == nil {
		t.Error("an empty seed was accepted")
	}
}

func TestNodeCertificateVerifiesForClientsAndPeers(t *testing.T) {
	b, err := nodeCertificates("seed-a", []string{"*.es-discovery.logging.svc.cluster.local", "*.logging.svc.cluster.local", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ca := parsePEM(t, b.CA)
	node := parsePEM(t, b.Cert)
	if !ca.IsCA {
		t.Error("the CA certificate is not a CA")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	at := certificateEpoch.Add(365 * 24 * time.Hour)
	for _, host := range []string{"logs-es-abc123.logging.svc.cluster.local", "logs-es-2.es-discovery.logging.svc.cluster.local", "localhost", "127.0.0.1"} {
		if _, err := node.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("a client of %s cannot verify the node: %v", host, err)
		}
	}
	if _, err := node.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("a peer cannot verify the node as a transport client: %v", err)
	}
	if _, err := node.Verify(x509.VerifyOptions{DNSName: "evil.example.com", Roots: roots, CurrentTime: at}); err == nil {
		t.Error("the certificate is valid for any host")
	}
	if got := node.NotAfter.Sub(node.NotBefore); got != certificateLifetime {
		t.Errorf("lifetime = %s", got)
	}
}

func TestDerivedSecretsAreStableAndDistinct(t *testing.T) {
	a, err := deriveSecret("seed", "one")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := deriveSecret("seed", "one")
	other, _ := deriveSecret("seed", "two")
	if a != again || a == other || len(a) != 64 {
		t.Errorf("derived %q, %q, %q", a, again, other)
	}
}
