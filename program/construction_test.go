package program

import (
	"fmt"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nexios-labs/nexios-k8s/components/app"
	"github.com/nexios-labs/nexios-k8s/components/secrets"
	"github.com/nexios-labs/nexios-k8s/internal/mocktest"
	"github.com/nexios-labs/nexios-k8s/stacks"
)

// constructApps registers n instances of the dev stack's app in one stack, each under a name and
// in a namespace of its own, sharing one set of generated secrets: what a stack holding several apps
// costs the program to construct.
func constructApps(n int) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, err := stacks.FromContext(ctx)
		if err != nil {
			return err
		}
		generated, err := secrets.NewSecrets(ctx, "secrets", secretsArgs(cfg))
		if err != nil {
			return err
		}
		for i := range n {
			instance := *cfg
			instance.App.Name = fmt.Sprintf("%s-%d", cfg.App.Name, i)
			instance.Target.Namespace = fmt.Sprintf("%s-%d", cfg.Target.Namespace, i)
			if _, err := app.NewApp(ctx, instance.App.Name, appArgs(&instance, generated, nil)); err != nil {
				return fmt.Errorf("app %d: %w", i, err)
			}
		}
		return nil
	}
}

// constructionSizes are the instance counts the construction cost is measured at (`make bench`).
var constructionSizes = []int{1, 10, 50}

// The program's work per app instance is the same whatever the number of instances: each registers
// exactly the same resources, so construction grows linearly (its time is measured by
// BenchmarkConstruction, which `make bench` runs).
func TestConstructionGrowsLinearly(t *testing.T) {
	registered := map[int]int{}
	for _, n := range constructionSizes {
		mocks := &mocktest.Mocks{}
		if err := mocks.Run("dev", devConfig(t), constructApps(n)); err != nil {
			t.Fatalf("%d apps: %v", n, err)
		}
		registered[n] = len(mocks.Resources())
	}
	perApp := registered[10] - registered[1]
	if perApp%9 != 0 {
		t.Fatalf("1 app registers %d resources, 10 apps %d: not the same number per app", registered[1], registered[10])
	}
	perApp /= 9
	shared := registered[1] - perApp
	for _, n := range constructionSizes {
		if want := shared + n*perApp; registered[n] != want {
			t.Errorf("%d apps register %d resources, want %d (%d shared + %d per app)", n, registered[n], want, shared, perApp)
		}
	}
	if perApp < 10 {
		t.Errorf("an app registers %d resources; the dev app has a Deployment, Service, ConfigMap, Secret and more", perApp)
	}
}

// BenchmarkConstruction times registering 1, 10 and 50 app instances in one stack under mocks, and
// reports the cost per instance (ms/app), which must stay flat as the count grows.
func BenchmarkConstruction(b *testing.B) {
	config := devConfig(b)
	for _, n := range constructionSizes {
		b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
			for b.Loop() {
				if err := (&mocktest.Mocks{}).Run("dev", config, constructApps(n)); err != nil {
					b.Fatalf("%d apps: %v", n, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N)/float64(n), "ms/app")
		})
	}
}
