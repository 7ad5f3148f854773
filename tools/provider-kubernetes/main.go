// Command pulumi-resource-kubernetes is the Pulumi Kubernetes provider plugin,
// built from the pinned upstream provider module so that no plugin has to be
// downloaded at run time. Upstream's own main embeds files its release build
// generates; this one embeds the schema and mapping that `make tools` copies
// from the provider module in the Go module cache.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var schema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}
