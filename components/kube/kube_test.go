package kube

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
)

func TestIntOrString(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{{"3", pulumi.Int(3)}, {"25%", pulumi.String("25%")}, {"03", pulumi.String("03")}, {"1x", pulumi.String("1x")}}
	for _, tt := range tests {
		if got := IntOrString(tt.in); got != tt.want {
			t.Errorf("IntOrString(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestChecksum(t *testing.T) {
	sum := func(parts ...pulumi.StringMap) (string, bool) {
		inputs := make([]pulumi.StringMapInput, len(parts))
		for i, p := range parts {
			inputs[i] = p
		}
		v, secret := mocktest.Await(t, Checksum(inputs...))
		return v.(string), secret
	}
	base, secret := sum(pulumi.StringMap{"a": pulumi.String("1")}, pulumi.StringMap{"b": pulumi.String("2")})
	if secret {
		t.Error("checksum of plain data is secret")
	}
	tests := []struct {
		name  string
		parts []pulumi.StringMap
		same  bool
	}{
		{"same data", []pulumi.StringMap{{"a": pulumi.String("1")}, {"b": pulumi.String("2")}}, true},
		{"value changed", []pulumi.StringMap{{"a": pulumi.String("2")}, {"b": pulumi.String("2")}}, false},
		{"moved between parts", []pulumi.StringMap{{}, {"a": pulumi.String("1"), "b": pulumi.String("2")}}, false},
		{"key and value boundary", []pulumi.StringMap{{"a": pulumi.String("1")}, {"b=": pulumi.String("")}}, false},
	}
	for _, tt := range tests {
		got, _ := sum(tt.parts...)
		if (got == base) != tt.same {
			t.Errorf("%s: checksum equal = %v, want %v", tt.name, got == base, tt.same)
		}
	}
	if _, secret := sum(pulumi.StringMap{"k": pulumi.ToSecret(pulumi.String("v")).(pulumi.StringOutput)}); !secret {
		t.Error("checksum over secret data is not secret")
	}
}

func TestLabels(t *testing.T) {
	l := Labels("nexios", "web", "api")
	for key, want := range map[string]string{LabelName: "nexios", LabelInstance: "web", LabelComponent: "api", LabelManagedBy: "pulumi"} {
		if l[key] != want {
			t.Errorf("label %s = %q, want %q", key, l[key], want)
		}
	}
	if len(SelectorLabels("nexios", "web")) != 2 {
		t.Error("selector labels must stay minimal: a Deployment's selector is immutable")
	}
}

func TestResourcesEphemeralStorage(t *testing.T) {
	cpuMemory := Resources{
		Requests: ResourceList{CPU: "100m", Memory: "128Mi"},
		Limits:   ResourceList{CPU: "500m", Memory: "256Mi"},
	}
	storage := EphemeralStorage{Request: "64Mi", Limit: "128Mi"}
	keys := func(r Resources) (requests, limits pulumi.StringMap) {
		args := r.Args()
		return args.Requests.(pulumi.StringMap), args.Limits.(pulumi.StringMap)
	}

	// Without ephemeral storage nothing but CPU and memory is rendered.
	requests, limits := keys(cpuMemory)
	if _, set := requests["ephemeral-storage"]; set || len(requests) != 2 || len(limits) != 2 {
		t.Errorf("requests %v, limits %v: want cpu and memory only", requests, limits)
	}

	// A component's default fills an empty ephemeral storage and never overrides the caller's.
	withDefault := cpuMemory.WithEphemeralStorage(storage)
	requests, limits = keys(withDefault)
	if requests["ephemeral-storage"] != pulumi.String("64Mi") || limits["ephemeral-storage"] != pulumi.String("128Mi") {
		t.Errorf("requests %v, limits %v: want ephemeral-storage 64Mi and 128Mi", requests, limits)
	}
	own := EphemeralStorage{Request: "1Gi", Limit: "2Gi"}
	if got := withDefault.WithEphemeralStorage(own).EphemeralStorage; got != storage {
		t.Errorf("a default replaced the set ephemeral storage: %+v", got)
	}
	if cpuMemory.EphemeralStorage != (EphemeralStorage{}) {
		t.Error("WithEphemeralStorage changed its receiver")
	}

	tests := []struct {
		name    string
		storage EphemeralStorage
		want    string
	}{
		{"unset", EphemeralStorage{}, ""},
		{"set", storage, ""},
		{"request equals limit", EphemeralStorage{Request: "1Gi", Limit: "1024Mi"}, ""},
		{"request only", EphemeralStorage{Request: "64Mi"}, "needs both a request and a limit"},
		{"limit only", EphemeralStorage{Limit: "64Mi"}, "needs both a request and a limit"},
		{"request above limit", EphemeralStorage{Request: "2Gi", Limit: "1Gi"}, "above its limit"},
		{"malformed request", EphemeralStorage{Request: "lots", Limit: "1Gi"}, "ephemeral storage request"},
		{"malformed limit", EphemeralStorage{Request: "1Gi", Limit: "1 GB"}, "ephemeral storage limit"},
	}
	for _, tt := range tests {
		r := cpuMemory
		r.EphemeralStorage = tt.storage
		err := r.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestSumMi(t *testing.T) {
	tests := []struct {
		in   []string
		want string
		ok   bool
	}{
		{[]string{"64Mi"}, "64Mi", true},
		{[]string{"1Gi", "2048Mi", ContainerLogAllowance}, "3122Mi", true},
		// Rounded up: a limit must never come out below its parts.
		{[]string{"1G"}, "954Mi", true},
		{[]string{"1", "1Ki"}, "1Mi", true},
		{nil, "0Mi", true},
		{[]string{"64Mi", "lots"}, "", false},
		{[]string{"-1Gi"}, "", false},
	}
	for _, tt := range tests {
		got, err := SumMi(tt.in...)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("SumMi(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidateStackIdentity(t *testing.T) {
	tests := []struct {
		project, stack string
		ok             bool
	}{
		{"nexios", "dev", true},
		{"nexios", "staging-dev", true},
		{"nexios", "team_a.prod", true},
		{"nexios", strings.Repeat("s", 56), true},
		{"nexios", strings.Repeat("s", 57), false},
		{"nexios", "dev-", false},
		{"nexios", "a/dev", false},
	}
	for _, tt := range tests {
		t.Run(tt.stack, func(t *testing.T) {
			err := ValidateStackIdentity(tt.project, tt.stack)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateStackIdentity(%q, %q) = %v, want ok %v", tt.project, tt.stack, err, tt.ok)
			}
			if err != nil && (!strings.Contains(err.Error(), LabelStack) || !strings.Contains(err.Error(), tt.stack)) {
				t.Errorf("error %q names neither the label nor the stack", err)
			}
		})
	}
}
