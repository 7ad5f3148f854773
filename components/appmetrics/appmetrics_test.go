package appmetrics

import (
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	m, err := Lookup("http_requests_per_second")
	if err != nil {
		t.Fatal(err)
	}
	want := `sum by (namespace, pod) (rate(http_requests_total{job="nexios"}[2m]))`
	if got := m.Expr(`job="nexios"`); got != want {
		t.Errorf("Expr = %s, want %s", got, want)
	}
	if _, err := Lookup("http_requests_per_minute"); err == nil || !strings.Contains(err.Error(), "http_requests_per_second") {
		t.Errorf("unknown metric: error %v should list the known ones", err)
	}
}
