package s3local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var creds = Credentials{AccessKeyID: "AKIDLOCAL", SecretAccessKey: "local/Secret+Key", Region: "local-1"}

// TestVerify sends requests signed by the AWS SDK's signer, correct or spoiled in one way each: only
// the correct ones reach the bucket, and each refusal is answered 403 and recorded with its reason.
func TestVerify(t *testing.T) {
	s, err := Start("127.0.0.1:0", "backups", creds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	body := []byte("a dump")
	tests := []struct {
		name string
		// secret signs the request; hash is x-amz-content-sha256 ("" leaves it out); at is the
		// signing time; tamper changes the request after it is signed.
		secret, hash string
		at           time.Time
		tamper       func(*http.Request)
		want         int
		reason       string
	}{
		{name: "signed", secret: creds.SecretAccessKey, hash: sum(body), want: http.StatusOK},
		{name: "unsigned payload", secret: creds.SecretAccessKey, hash: "UNSIGNED-PAYLOAD", want: http.StatusOK},
		{name: "wrong secret", secret: "not-the-key", hash: sum(body), want: http.StatusForbidden, reason: "signature mismatch"},
		{name: "no payload hash", secret: creds.SecretAccessKey, want: http.StatusForbidden, reason: "x-amz-content-sha256 is not sent and signed"},
		{name: "payload hash of another body", secret: creds.SecretAccessKey, hash: sum([]byte("other")), want: http.StatusForbidden, reason: "does not match the body"},
		{name: "an hour old", secret: creds.SecretAccessKey, hash: sum(body), at: time.Now().Add(-time.Hour), want: http.StatusForbidden, reason: "away from now"},
		{name: "key renamed after signing", secret: creds.SecretAccessKey, hash: sum(body), tamper: func(r *http.Request) { r.URL.Path += ".old" }, want: http.StatusForbidden, reason: "signature mismatch"},
		{name: "no signature", hash: sum(body), tamper: func(r *http.Request) { r.Header.Del("Authorization") }, want: http.StatusForbidden, reason: "no AWS4-HMAC-SHA256 Authorization header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "nexios/" + strings.ReplaceAll(tt.name, " ", "-") + ".dump"
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, s.URL+"/backups/"+key, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.hash != "" {
				req.Header.Set("X-Amz-Content-Sha256", tt.hash)
			}
			at := tt.at
			if at.IsZero() {
				at = time.Now()
			}
			payload := tt.hash
			if payload == "" {
				payload = sum(body)
			}
			secret := tt.secret
			if secret == "" {
				secret = creds.SecretAccessKey
			}
			signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
			if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: secret}, req, payload, "s3", creds.Region, at); err != nil {
				t.Fatal(err)
			}
			if tt.tamper != nil {
				tt.tamper(req)
			}
			refusedBefore := len(s.Rejected())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, answer, tt.want)
			}
			objects, err := s.Objects("nexios/")
			if err != nil {
				t.Fatal(err)
			}
			stored := false
			for _, o := range objects {
				stored = stored || o.Key == key
			}
			if stored != (tt.want == http.StatusOK) {
				t.Errorf("object %s stored: %v, want %v", key, stored, tt.want == http.StatusOK)
			}
			refused := s.Rejected()[refusedBefore:]
			switch {
			case tt.reason == "" && len(refused) > 0:
				t.Errorf("a correct request was recorded as refused: %v", refused)
			case tt.reason != "" && (len(refused) != 1 || !strings.Contains(refused[0], tt.reason)):
				t.Errorf("refusals %v, want one saying %q", refused, tt.reason)
			}
		})
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
