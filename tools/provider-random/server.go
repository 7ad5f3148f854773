package main

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// providerVersion is the pulumi-random release whose RandomPassword this
// stand-in reproduces; the program's SDK asks the engine for this version.
const providerVersion = "4.21.2"

// passwordID is the ID the real provider gives every RandomPassword.
const passwordID = "none"

//go:embed schema.json
var schema string

// randomServer serves RandomPassword over Pulumi's resource provider protocol.
type randomServer struct {
	pulumirpc.UnimplementedResourceProviderServer
}

var _ pulumirpc.ResourceProviderServer = (*randomServer)(nil)

func (s *randomServer) Handshake(
	context.Context, *pulumirpc.ProviderHandshakeRequest,
) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true}, nil
}

func (s *randomServer) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: providerVersion}, nil
}

// GetSchema is what `pulumi import` uses to generate code for an imported password.
func (s *randomServer) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: schema}, nil
}

// CheckConfig accepts any configuration: pulumi-random has none of its own, and
// the engine adds keys such as version to every provider's inputs.
func (s *randomServer) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (s *randomServer) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (s *randomServer) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (s *randomServer) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := requirePasswordType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "news")
	if err != nil {
		return nil, err
	}
	checked, failures := checkPassword(news)
	inputs, err := marshal(checked, "checked inputs")
	if err != nil {
		return nil, err
	}
	response := &pulumirpc.CheckResponse{Inputs: inputs}
	for _, failure := range failures {
		response.Failures = append(response.Failures, &pulumirpc.CheckFailure{
			Property: string(failure.Property),
			Reason:   failure.Reason,
		})
	}
	return response, nil
}

func (s *randomServer) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, news, err := passwordChange(req)
	if err != nil {
		return nil, err
	}

	changes := diffPassword(olds, news)
	if len(changes) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true}, nil
	}
	response := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_SOME,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
		HasDetailedDiff: true,
		// The old password is no longer referenced once replaced, so nothing
		// requires deleting it first; the real provider also creates first.
		DeleteBeforeReplace: false,
	}
	for _, change := range changes {
		kind := pulumirpc.PropertyDiff_UPDATE_REPLACE
		switch {
		case change.Added:
			kind = pulumirpc.PropertyDiff_ADD_REPLACE
		case change.Removed:
			kind = pulumirpc.PropertyDiff_DELETE_REPLACE
		}
		name := string(change.Key)
		response.Replaces = append(response.Replaces, name)
		response.Diffs = append(response.Diffs, name)
		response.DetailedDiff[name] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return response, nil
}

func (s *randomServer) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := requirePasswordType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	inputs, err := unmarshal(req.GetProperties(), "properties")
	if err != nil {
		return nil, err
	}

	outputs := withDefaults(inputs)
	if req.GetPreview() {
		outputs[resultKey] = resource.MakeComputed(resource.NewStringProperty(""))
		outputs[bcryptHashKey] = resource.MakeComputed(resource.NewStringProperty(""))
	} else {
		spec, err := decodePasswordSpec(inputs)
		if err != nil {
			return nil, fmt.Errorf("creating password %s: %w", req.GetUrn(), err)
		}
		password, err := generatePassword(spec)
		if err != nil {
			return nil, fmt.Errorf("creating password %s: %w", req.GetUrn(), err)
		}
		if err := setPassword(outputs, password); err != nil {
			return nil, fmt.Errorf("creating password %s: %w", req.GetUrn(), err)
		}
	}

	properties, err := marshal(outputs, "outputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: passwordID, Properties: properties}, nil
}

// Read never regenerates: a password has no remote copy that could drift, so
// a refresh returns the state as stored. With no stored state it is an
// import, and like the real provider it takes the ID as the password.
func (s *randomServer) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if err := requirePasswordType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	if len(req.GetProperties().GetFields()) > 0 {
		return &pulumirpc.ReadResponse{
			Id:         req.GetId(),
			Properties: req.GetProperties(),
			Inputs:     req.GetInputs(),
		}, nil
	}

	password := req.GetId()
	if password == "" {
		return nil, fmt.Errorf("importing %s: the ID must be the password to import", req.GetUrn())
	}
	inputs := importedPasswordInputs(password)
	outputs := inputs.Copy()
	if err := setPassword(outputs, password); err != nil {
		return nil, fmt.Errorf("importing %s: %w", req.GetUrn(), err)
	}
	marshalledInputs, err := marshal(inputs, "imported inputs")
	if err != nil {
		return nil, err
	}
	marshalledOutputs, err := marshal(outputs, "imported outputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: passwordID, Properties: marshalledOutputs, Inputs: marshalledInputs}, nil
}

// Update is never planned because every input change replaces the password;
// should an engine call it anyway, the inputs change and the password stays.
func (s *randomServer) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	olds, news, err := passwordChange(req)
	if err != nil {
		return nil, err
	}
	outputs := withDefaults(news)
	for _, key := range []resource.PropertyKey{resultKey, bcryptHashKey} {
		if value, ok := olds[key]; ok {
			outputs[key] = secret(value)
		}
	}
	properties, err := marshal(outputs, "outputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: properties}, nil
}

// Delete has nothing to clean up: the password exists only in the state.
func (s *randomServer) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if err := requirePasswordType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Cancel has nothing to stop: every call finishes in milliseconds.
func (s *randomServer) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// setPassword records password and its hash as secrets, as the real provider
// marks them.
func setPassword(outputs resource.PropertyMap, password string) error {
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	outputs[resultKey] = resource.MakeSecret(resource.NewStringProperty(password))
	outputs[bcryptHashKey] = resource.MakeSecret(resource.NewStringProperty(hash))
	return nil
}

func secret(value resource.PropertyValue) resource.PropertyValue {
	if value.IsSecret() {
		return value
	}
	return resource.MakeSecret(value)
}

// requirePasswordType turns a request for any other pulumi-random resource
// into an error that says why, instead of a confusing failure later.
func requirePasswordType(typ, urn string) error {
	if typ == "" {
		parsed, err := resource.ParseURN(urn)
		if err != nil {
			return fmt.Errorf("reading the resource type from URN %q: %w", urn, err)
		}
		typ = string(parsed.Type())
	}
	if typ != passwordType {
		return fmt.Errorf("resource type %s is not implemented by this offline stand-in for pulumi-random, "+
			"which implements only %s; install the real plugin with `pulumi plugin install resource random %s`",
			typ, passwordType, providerVersion)
	}
	return nil
}

// changeRequest is what Diff and Update requests have in common.
type changeRequest interface {
	GetType() string
	GetUrn() string
	GetOlds() *structpb.Struct
	GetNews() *structpb.Struct
}

// passwordChange decodes the stored state and the new inputs of a password.
func passwordChange(req changeRequest) (olds, news resource.PropertyMap, err error) {
	if err := requirePasswordType(req.GetType(), req.GetUrn()); err != nil {
		return nil, nil, err
	}
	if olds, err = unmarshal(req.GetOlds(), "olds"); err != nil {
		return nil, nil, err
	}
	if news, err = unmarshal(req.GetNews(), "news"); err != nil {
		return nil, nil, err
	}
	return olds, news, nil
}

func unmarshal(properties *structpb.Struct, label string) (resource.PropertyMap, error) {
	props, err := plugin.UnmarshalProperties(properties, plugin.MarshalOptions{
		Label:        label,
		KeepUnknowns: true,
		KeepSecrets:  true,
		SkipNulls:    true,
	})
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", label, err)
	}
	return props, nil
}

func marshal(props resource.PropertyMap, label string) (*structpb.Struct, error) {
	properties, err := plugin.MarshalProperties(props, plugin.MarshalOptions{
		Label:        label,
		KeepUnknowns: true,
		KeepSecrets:  true,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", label, err)
	}
	return properties, nil
}
