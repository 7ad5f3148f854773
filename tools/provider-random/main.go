// Command pulumi-resource-random is an offline stand-in for the pulumi-random
// provider plugin: it serves only RandomPassword, with pulumi-random 4.21.2's
// property names and semantics, for machines that cannot download the real
// plugin. See README.md.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func main() {
	err := provider.Main("random", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return &randomServer{}, nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-random (offline stand-in): %v\n", err)
		os.Exit(1)
	}
}
