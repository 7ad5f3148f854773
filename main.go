// Command nexios is the Pulumi program that deploys a Nexios web application to Kubernetes:
// `pulumi up -s dev`. Pipelines run the same program through cmd/deploy.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/program"
)

func main() { pulumi.Run(program.Run) }
