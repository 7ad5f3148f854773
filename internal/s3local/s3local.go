// Package s3local is an S3-compatible bucket on this machine, for the tests and the disaster-recovery
// drill: an in-memory gofakes3 server behind a check of each request's AWS Signature Version 4.
// gofakes3 checks no signature at all, and a backup script whose requests only a lenient server takes
// would fail on its first real bucket; so every request must carry a SigV4 Authorization header for
// the bucket's credentials that the AWS SDK for Go computes the same way, and a signed payload hash
// that matches the body, as S3 requires. Requests that fail the check are answered 403 and recorded.
package s3local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Credentials are the bucket's only accepted key pair and the region requests are signed for.
type Credentials struct {
	AccessKeyID, SecretAccessKey, Region string
}

// Server serves one bucket over plain HTTP, path-style (URL/Bucket/key).
type Server struct {
	// URL is the endpoint, http://ADDRESS:PORT, on the address it was started on; Port is its port,
	// for an endpoint on another of the machine's addresses.
	URL    string
	Port   int
	Bucket string
	creds  Credentials

	backend  *s3mem.Backend
	http     *http.Server
	listener net.Listener

	mu       sync.Mutex
	rejected []string
}

// Start serves an empty bucket named bucket on listen (host:port, port 0 for any), accepting requests
// signed with creds. Close stops it.
func Start(listen, bucket string, creds Credentials) (*Server, error) {
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" || creds.Region == "" {
		return nil, errors.New("s3local: an access key ID, a secret access key and a region are required")
	}
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		return nil, fmt.Errorf("s3local: creating bucket %q: %w", bucket, err)
	}
	listener, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("s3local: listening on %s: %w", listen, err)
	}
	s := &Server{
		URL:      "http://" + listener.Addr().String(),
		Port:     listener.Addr().(*net.TCPAddr).Port,
		Bucket:   bucket,
		creds:    creds,
		backend:  backend,
		listener: listener,
	}
	s3 := gofakes3.New(backend, gofakes3.WithAutoBucket(false)).Server()
	s.http = &http.Server{Handler: s.verified(s3), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(listener) }()
	return s, nil
}

// Close stops the server; the objects are gone with it.
func (s *Server) Close() error { return s.http.Close() }

// Rejected lists the requests refused for their signature, as "METHOD PATH: reason".
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rejected)
}

// Object is a stored object's key and size.
type Object struct {
	Key  string
	Size int64
}

// Objects lists the bucket's objects whose keys start with prefix, in key order.
func (s *Server) Objects(prefix string) ([]Object, error) {
	list, err := s.backend.ListBucket(s.Bucket, &gofakes3.Prefix{Prefix: prefix, HasPrefix: true}, gofakes3.ListBucketPage{})
	if err != nil {
		return nil, fmt.Errorf("s3local: listing %s/%s: %w", s.Bucket, prefix, err)
	}
	var objects []Object
	for _, c := range list.Contents {
		objects = append(objects, Object{Key: c.Key, Size: c.Size})
	}
	slices.SortFunc(objects, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return objects, nil
}

// Get returns an object's content.
func (s *Server) Get(key string) ([]byte, error) {
	obj, err := s.backend.GetObject(s.Bucket, key, nil)
	if err != nil {
		return nil, fmt.Errorf("s3local: reading %s/%s: %w", s.Bucket, key, err)
	}
	defer obj.Contents.Close()
	return io.ReadAll(obj.Contents)
}

// Put stores an object, as a test's fixture.
func (s *Server) Put(key string, content []byte) error {
	_, err := s.backend.PutObject(s.Bucket, key, map[string]string{}, bytes.NewReader(content), int64(len(content)), nil)
	if err != nil {
		return fmt.Errorf("s3local: writing %s/%s: %w", s.Bucket, key, err)
	}
	return nil
}

func (s *Server) verified(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = s.verify(r, body)
		}
		if err != nil {
			s.mu.Lock()
			s.rejected = append(s.rejected, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
			s.mu.Unlock()
			http.Error(w, "SignatureDoesNotMatch: "+err.Error(), http.StatusForbidden)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// verify re-signs the request with the SDK's signer, over the headers the client says it signed, and
// compares the signatures; the payload hash must be signed and must match the body.
func (s *Server) verify(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	fields, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return fmt.Errorf("no AWS4-HMAC-SHA256 Authorization header (got %q)", firstWord(auth))
	}
	parts := map[string]string{}
	for _, f := range strings.Split(fields, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		parts[k] = v
	}
	scope := strings.Split(parts["Credential"], "/")
	if len(scope) != 5 || scope[0] != s.creds.AccessKeyID || scope[2] != s.creds.Region || scope[3] != "s3" || scope[4] != "aws4_request" {
		return fmt.Errorf("credential scope %q, want %s/DATE/%s/s3/aws4_request", parts["Credential"], s.creds.AccessKeyID, s.creds.Region)
	}
	signed := strings.Split(parts["SignedHeaders"], ";")
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" || !slices.Contains(signed, "x-amz-content-sha256") {
		return errors.New("x-amz-content-sha256 is not sent and signed (S3 requires it)")
	}
	sum := sha256.Sum256(body)
	if payloadHash != "UNSIGNED-PAYLOAD" && payloadHash != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("x-amz-content-sha256 %s does not match the body's %s", payloadHash, hex.EncodeToString(sum[:]))
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("x-amz-date: %w", err)
	}
	if skew := time.Since(at); skew > 15*time.Minute || skew < -15*time.Minute {
		return fmt.Errorf("x-amz-date %s is %s away from now", at, skew)
	}

	// Only what the client signed goes into the copy, so the SDK signs the same header set.
	again, err := http.NewRequestWithContext(context.Background(), r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return err
	}
	for _, h := range signed {
		switch h {
		case "host", "authorization":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: s.creds.AccessKeyID, SecretAccessKey: s.creds.SecretAccessKey}
	if err := signer.SignHTTP(context.Background(), creds, again, payloadHash, "s3", s.creds.Region, at); err != nil {
		return fmt.Errorf("signing the copy: %w", err)
	}
	if want := again.Header.Get("Authorization"); want != auth {
		return fmt.Errorf("signature mismatch: sent %q, the SDK computes %q", auth, want)
	}
	return nil
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}
