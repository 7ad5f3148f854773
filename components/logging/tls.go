package logging

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Elasticsearch's certificates are derived from a generated secret seed instead of random keys, so that
// every `pulumi up` computes byte-identical PEM files: no diff, no restart, no state outside Pulumi's, and
// no privileged or API-writing init step. Keys come from HKDF over the seed; ECDSA signatures are
// deterministic (RFC 6979) when no random source is given.
//
// The validity window is fixed rather than "now", which would change on every run. It ends in 2035;
// changing certificateEpoch (or the seed) renews every certificate at once.
var (
	certificateEpoch    = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)
	certificateLifetime = 10 * 365 * 24 * time.Hour
)

// bundle is the PEM text of a CA certificate, a node certificate and the node's private key.
type bundle struct {
	CA, Cert, Key string
}

// caCertificate returns the PEM of the CA that seed derives; clients trust it.
func caCertificate(seed string) (string, error) {
	_, caPEM, err := deriveCA(seed)
	return caPEM, err
}

// nodeCertificates derives the CA and one certificate every Elasticsearch node presents, for both the
// transport layer (nodes authenticate each other) and HTTP (clients verify the hostnames below).
func nodeCertificates(seed string, dnsNames []string) (bundle, error) {
	ca, caPEM, err := deriveCA(seed)
	if err != nil {
		return bundle{}, err
	}
	key, err := deriveKey(seed, "node")
	if err != nil {
		return bundle{}, err
	}
	template := &x509.Certificate{
		SerialNumber: serial(seed, "node"),
		Subject:      pkix.Name{CommonName: "elasticsearch", Organization: []string{"nexios"}},
		NotBefore:    certificateEpoch,
		NotAfter:     certificateEpoch.Add(certificateLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Server for HTTP and transport, client for transport: nodes connect to each other.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    dnsNames,
		// The readiness probe talks to the node itself.
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(nil, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return bundle{}, fmt.Errorf("signing the node certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return bundle{}, fmt.Errorf("encoding the node key: %w", err)
	}
	return bundle{
		CA:   caPEM,
		Cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
	}, nil
}

type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func deriveCA(seed string) (authority, string, error) {
	if seed == "" {
		return authority{}, "", errors.New("the CA seed is empty")
	}
	key, err := deriveKey(seed, "ca")
	if err != nil {
		return authority{}, "", err
	}
	template := &x509.Certificate{
		SerialNumber:          serial(seed, "ca"),
		Subject:               pkix.Name{CommonName: "nexios logging CA", Organization: []string{"nexios"}},
		NotBefore:             certificateEpoch,
		NotAfter:              certificateEpoch.Add(certificateLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(nil, template, template, &key.PublicKey, key)
	if err != nil {
		return authority{}, "", fmt.Errorf("signing the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return authority{}, "", fmt.Errorf("reading back the CA certificate: %w", err)
	}
	return authority{cert: cert, key: key}, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}

// deriveKey turns the seed into a P-256 key for purpose. A derived scalar outside the curve's order
// (odds about 2^-32) is skipped by deriving again with a counter.
func deriveKey(seed, purpose string) (*ecdsa.PrivateKey, error) {
	for attempt := 0; attempt < 8; attempt++ {
		raw, err := hkdf.Key(sha256.New, []byte(seed), nil, fmt.Sprintf("nexios-logging %s key %d", purpose, attempt), 32)
		if err != nil {
			return nil, fmt.Errorf("deriving the %s key: %w", purpose, err)
		}
		if key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw); err == nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("deriving the %s key: no valid scalar in 8 attempts", purpose)
}

// serial is a positive 127-bit serial number, stable for a seed and purpose.
func serial(seed, purpose string) *big.Int {
	sum := sha256.Sum256([]byte("nexios-logging serial " + purpose + "\x00" + seed))
	sum[0] &= 0x7f
	return new(big.Int).SetBytes(sum[:16])
}

// deriveSecret is a 64-character hex secret for purpose, stable for a seed: Kibana's encryption keys,
// which every replica must share and which must not change between runs.
func deriveSecret(seed, purpose string) (string, error) {
	if seed == "" {
		return "", errors.New("the seed is empty")
	}
	raw, err := hkdf.Key(sha256.New, []byte(seed), nil, "nexios-logging secret "+purpose, 32)
	if err != nil {
		return "", fmt.Errorf("deriving the %s secret: %w", purpose, err)
	}
	return hex.EncodeToString(raw), nil
}
