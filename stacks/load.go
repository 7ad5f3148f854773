package stacks

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// FromContext reads the running stack's configuration and parses it.
//
// Unknown top-level keys can only be detected when the full key set is visible: the Pulumi CLI hands it
// to a program in PULUMI_CONFIG (`pulumi up` with main.go), and the pipeline command checks it with
// Parse before an inline run. Without that variable only the known keys are read.
func FromContext(ctx *pulumi.Context) (*Config, error) {
	settings, err := settingsFromEnv(ctx)
	if err != nil {
		return nil, err
	}
	if settings == nil {
		settings = map[string]Setting{}
		for _, key := range TopLevelKeys() {
			full := Namespace + ":" + key
			if v, ok := ctx.GetConfig(full); ok {
				settings[full] = Setting{Value: v, Secret: ctx.IsConfigSecret(full)}
			}
		}
	}
	return Parse(ctx.Stack(), settings)
}

// settingsFromEnv returns every configuration key of the run, or nil when the CLI did not provide them.
func settingsFromEnv(ctx *pulumi.Context) (map[string]Setting, error) {
	raw := os.Getenv(pulumi.EnvConfig)
	if raw == "" {
		return nil, nil
	}
	var values map[string]string
	if err := json.Unmarshal([]byte(raw), &values); err != nil {
		return nil, fmt.Errorf("reading %s: %w", pulumi.EnvConfig, err)
	}
	settings := make(map[string]Setting, len(values))
	for key, value := range values {
		settings[key] = Setting{Value: value, Secret: ctx.IsConfigSecret(key)}
	}
	return settings, nil
}
