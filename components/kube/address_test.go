package kube

import (
	"reflect"
	"testing"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func TestAddressName(t *testing.T) {
	tests := []struct {
		name string
		meta *metav1.ObjectMetaArgs
	}{
		{"auto-named metadata", &metav1.ObjectMetaArgs{Namespace: pulumi.String("nexios-dev"), Labels: pulumi.StringMap{LabelName: pulumi.String("web")}}},
		{"a name already set", &metav1.ObjectMetaArgs{Name: pulumi.String("other"), Namespace: pulumi.String("nexios-dev")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			original := *tt.meta
			got := AddressName(tt.meta, "web-service")
			if got.Name != pulumi.String("web-service") {
				t.Errorf("name %#v, want web-service", got.Name)
			}
			if got.Namespace != tt.meta.Namespace || !reflect.DeepEqual(got.Labels, tt.meta.Labels) {
				t.Errorf("namespace or labels changed: %#v", got)
			}
			// The builders share their metadata between objects: the others stay auto-named.
			if !reflect.DeepEqual(*tt.meta, original) {
				t.Errorf("the metadata passed in was changed: %#v", *tt.meta)
			}
		})
	}
}
