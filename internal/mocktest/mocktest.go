// Package mocktest runs Pulumi programs against recording mocks and reads back what they registered,
// so tests can assert on the inputs of every child resource.
package mocktest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/nexios-labs/nexios-k8s/internal/props"
)

// Project is the project name the mocks run under.
const Project = "nexios"

// GeneratedPassword is what the mocked random provider returns as a RandomPassword's result.
func GeneratedPassword(name string) string { return "generated-" + name }

// RotatedPassword is the mocked result for a RandomPassword whose rotation keeper is set: a new
// keeper gives a new password, as with the real provider.
func RotatedPassword(name, rotation string) string {
	if rotation == "" {
		return GeneratedPassword(name)
	}
	return GeneratedPassword(name) + "-" + rotation
}

// BcryptHash is the mocked bcryptHash of a password: shaped like bcrypt's, different for every
// password, and never containing the password itself.
func BcryptHash(password string) string {
	sum := sha256.Sum256([]byte(password))
	return "$2a$10$" + hex.EncodeToString(sum[:])[:53]
}

// Resource is one registered resource as the engine would have seen it.
type Resource struct {
	Type     string
	Name     string
	Inputs   resource.PropertyMap
	Provider string
	Parent   string
	Custom   bool
	// DeleteBeforeReplace is the resource option: a replacement deletes this object before it
	// creates the new one.
	DeleteBeforeReplace bool
	// CreateTimeout and UpdateTimeout are the customTimeouts resource option's, as Go durations
	// ("10m30s"); empty when not set.
	CreateTimeout, UpdateTimeout string
}

// Mocks records every resource registration and answers like a provider would.
type Mocks struct {
	mu        sync.Mutex
	resources []Resource
}

// NewResource records the registration. Kubernetes objects get an auto-generated metadata.name and a
// RandomPassword gets a result, as their providers would return.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := Resource{Type: args.TypeToken, Name: args.Name, Inputs: args.Inputs, Provider: args.Provider, Custom: args.Custom}
	if args.RegisterRPC != nil {
		r.Parent = args.RegisterRPC.GetParent()
		r.DeleteBeforeReplace = args.RegisterRPC.GetDeleteBeforeReplace()
		r.CreateTimeout = args.RegisterRPC.GetCustomTimeouts().GetCreate()
		r.UpdateTimeout = args.RegisterRPC.GetCustomTimeouts().GetUpdate()
	}
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()

	outputs := args.Inputs.Copy()
	switch {
	case args.TypeToken == "random:index/randomPassword:RandomPassword":
		rotation := ""
		if k, ok := args.Inputs["keepers"]; ok && k.IsObject() {
			if r, ok := k.ObjectValue()["rotation"]; ok && r.IsString() {
				rotation = r.StringValue()
			}
		}
		result := RotatedPassword(args.Name, rotation)
		outputs["result"] = resource.MakeSecret(resource.NewStringProperty(result))
		outputs["bcryptHash"] = resource.MakeSecret(resource.NewStringProperty(BcryptHash(result)))
	case strings.HasPrefix(args.TypeToken, "kubernetes:") && args.Custom && args.TypeToken != "pulumi:providers:kubernetes":
		meta := resource.PropertyMap{}
		if v, ok := outputs["metadata"]; ok && v.IsObject() {
			meta = v.ObjectValue().Copy()
		}
		if _, named := meta["name"]; !named {
			meta["name"] = resource.NewStringProperty(args.Name + "-abc123")
		}
		outputs["metadata"] = resource.NewObjectProperty(meta)
	}
	return args.Name + "-id", outputs, nil
}

// Call answers provider function invocations; the programs under test make none.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("unexpected call to %s", args.Token)
}

// Resources returns every registration so far, in registration order.
func (m *Mocks) Resources() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Resource(nil), m.resources...)
}

// OfType returns the registrations of one type token, sorted by name.
func (m *Mocks) OfType(typeToken string) []Resource {
	var out []Resource
	for _, r := range m.Resources() {
		if r.Type == typeToken {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Find returns the registration with this type and name, failing the test when there is none.
func (m *Mocks) Find(t testing.TB, typeToken, name string) Resource {
	t.Helper()
	for _, r := range m.Resources() {
		if r.Type == typeToken && r.Name == name {
			return r
		}
	}
	var names []string
	for _, r := range m.OfType(typeToken) {
		names = append(names, r.Name)
	}
	t.Fatalf("no %s named %q; registered: %v", typeToken, name, names)
	return Resource{}
}

// Has reports whether a resource of this type and name was registered.
func (m *Mocks) Has(typeToken, name string) bool {
	for _, r := range m.Resources() {
		if r.Type == typeToken && r.Name == name {
			return true
		}
	}
	return false
}

// Config is a stack's configuration for a mocked run: key to raw value, and which keys are secret.
type Config struct {
	Values  map[string]string
	Secrets []string
}

// NewConfig is a stack's configuration from Go values: a string as it is, anything else encoded as
// JSON, the way Pulumi hands an object-typed key to a program; secret names the keys held as secrets.
func NewConfig(t testing.TB, values map[string]any, secret ...string) Config {
	t.Helper()
	cfg := Config{Values: map[string]string{}, Secrets: secret}
	for k, v := range values {
		if s, ok := v.(string); ok {
			cfg.Values[k] = s
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("encoding %s: %v", k, err)
		}
		cfg.Values[k] = string(b)
	}
	return cfg
}

// Run executes program with the mocks as stack `stack` of Project.
func (m *Mocks) Run(stack string, cfg Config, program pulumi.RunFunc) error {
	withConfig := func(info *pulumi.RunInfo) {
		info.Config = cfg.Values
		info.ConfigSecretKeys = cfg.Secrets
	}
	return pulumi.RunErr(program, pulumi.WithMocks(Project, stack, m), withConfig)
}

// Props returns the resource's inputs for reading by path.
func (r Resource) Props() props.Map { return props.Map(r.Inputs) }

// Get walks a dotted path such as "spec.template.spec.containers[0].image" through the inputs,
// looking through secrets. The second result is false when the path does not exist.
func (r Resource) Get(path string) (resource.PropertyValue, bool) { return r.Props().Get(path) }

// String returns the string at path, or "" when absent.
func (r Resource) String(path string) string { return r.Props().String(path) }

// Number returns the number at path, or -1 when absent, so a missing value never passes as zero.
func (r Resource) Number(path string) float64 { return r.Props().Number(path) }

// Bool returns the boolean at path and whether it was set.
func (r Resource) Bool(path string) (value, set bool) { return r.Props().Bool(path) }

// Len returns the length of the array or object at path, or 0.
func (r Resource) Len(path string) int { return r.Props().Len(path) }

// IsSecret reports whether the value at path, or any value on the way to it, is marked secret.
func (r Resource) IsSecret(path string) bool { return r.Props().IsSecret(path) }

// Await resolves an output within a timeout, so a test fails instead of hanging when an apply never runs.
func Await(t testing.TB, o pulumi.Output) (value any, secret bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := internals.UnsafeAwaitOutput(ctx, o)
	if err != nil {
		t.Fatalf("awaiting output: %v", err)
	}
	return res.Value, res.Secret
}

// Build runs newComponent under fresh mocks as stack "test" and fails the test when it returns an error.
func Build[C any](t testing.TB, newComponent func(*pulumi.Context) (C, error)) (*Mocks, C) {
	t.Helper()
	m := &Mocks{}
	var component C
	err := m.Run("test", Config{}, func(ctx *pulumi.Context) error {
		var err error
		component, err = newComponent(ctx)
		return err
	})
	if err != nil {
		t.Fatalf("building the component: %v", err)
	}
	return m, component
}

// ExpectRejected runs newComponent under fresh mocks and fails the test unless it returns an error
// containing want having registered nothing: bad input must be refused before any resource exists.
func ExpectRejected[C any](t testing.TB, newComponent func(*pulumi.Context) (C, error), want string) {
	t.Helper()
	m := &Mocks{}
	err := m.Run("test", Config{}, func(ctx *pulumi.Context) error {
		_, err := newComponent(ctx)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("want an error containing %q, got %v", want, err)
	}
	if n := len(m.Resources()); n != 0 {
		t.Errorf("%d resources registered for rejected input", n)
	}
}
