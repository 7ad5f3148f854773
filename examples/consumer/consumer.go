// Package consumer is an example of another team's Pulumi program reading nexios-k8s's stack exports
// through a StackReference: the documented contract, never its secrets.
package consumer

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// DefaultProducer is the nexios dev stack on a file backend, whose organization is always "organization".
const DefaultProducer = "organization/nexios/dev"

// Run reads the producer stack named by the `producer` config key and exports what a caller of the
// app needs. A missing export fails the run instead of silently producing empty values.
func Run(ctx *pulumi.Context) error {
	producer := config.Get(ctx, "producer")
	if producer == "" {
		producer = DefaultProducer
	}
	ref, err := pulumi.NewStackReference(ctx, "nexios", &pulumi.StackReferenceArgs{Name: pulumi.String(producer)})
	if err != nil {
		return fmt.Errorf("referencing stack %s: %w", producer, err)
	}
	required := func(key string) pulumi.StringOutput {
		return ref.GetStringOutput(pulumi.String(key)).ApplyT(func(v string) (string, error) {
			if v == "" {
				return "", fmt.Errorf("stack %s exports no %q: is it deployed?", producer, key)
			}
			return v, nil
		}).(pulumi.StringOutput)
	}
	ctx.Export("upstreamUrl", required("internalUrl"))
	ctx.Export("upstreamNamespace", required("namespace"))
	ctx.Export("upstreamService", required("serviceName"))
	// A NetworkPolicy of this team's namespace would allow egress to upstreamNamespace; the producer
	// must in turn list this namespace in app.networkPolicy.allowFromNamespaces.
	return nil
}
