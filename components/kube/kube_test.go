package kube

import (
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
