// Command consumer runs the example consumer program under `pulumi up`.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/examples/consumer"
)

func main() { pulumi.Run(consumer.Run) }
