package main

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestLocalStackFile(t *testing.T) {
	for _, tc := range []struct {
		name, stack, file string
		wantProd          bool
		wantIngress       any // app.ingress.enabled after; nil: no ingress key
		wantSalt          bool
		wantErr           string
	}{
		{
			name: "dev keeps its salt, has no ingress", stack: "dev",
			file:     "config:\n  nexios:app:\n    image: x\nencryptionsalt: v1:abc\n",
			wantSalt: true,
		},
		{
			name: "prod by name: ingress off, salt dropped", stack: "prod",
			file:     "config:\n  nexios:app:\n    image: x\n    ingress:\n      enabled: true\n      host: h\nencryptionsalt: v1:abc\n",
			wantProd: true, wantIngress: false,
		},
		{
			name: "prod by nexios:environment under another name", stack: "eu",
			file:     "config:\n  nexios:environment: prod\n  nexios:app:\n    ingress:\n      enabled: true\n",
			wantProd: true, wantIngress: false,
		},
		{
			name: "a disabled ingress stays as it is", stack: "dev",
			file:        "config:\n  nexios:app:\n    ingress:\n      enabled: false\n",
			wantIngress: false,
		},
		{name: "an unknown environment", stack: "prod", file: "config:\n  nexios:environment: staging\n", wantErr: "nexios:environment"},
		{name: "not YAML", stack: "dev", file: "config: [", wantErr: "parsing the stack file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, prod, err := localStackFile(tc.stack, []byte(tc.file))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if prod != tc.wantProd {
				t.Errorf("prod = %v, want %v", prod, tc.wantProd)
			}
			var got struct {
				Config map[string]any `yaml:"config"`
				Salt   string         `yaml:"encryptionsalt"`
			}
			if err := yaml.Unmarshal(out, &got); err != nil {
				t.Fatalf("the written file is no YAML: %v\n%s", err, out)
			}
			app, _ := got.Config["nexios:app"].(map[string]any)
			ingress, _ := app["ingress"].(map[string]any)
			if enabled := ingress["enabled"]; enabled != tc.wantIngress {
				t.Errorf("app.ingress.enabled = %v, want %v:\n%s", enabled, tc.wantIngress, out)
			}
			if (got.Salt != "") != tc.wantSalt {
				t.Errorf("encryptionsalt %q, want kept: %v", got.Salt, tc.wantSalt)
			}
		})
	}
}
