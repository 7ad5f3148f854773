package main

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/structpb"
)

const testURN = "urn:pulumi:dev::nexios-k8s::" + passwordType + "::db-password"

// props builds a PropertyMap from plain Go values, as a program would send them.
func props(values map[string]any) resource.PropertyMap {
	return resource.NewPropertyMapFromMap(values)
}

func mustMarshal(t *testing.T, p resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := marshal(p, "test")
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return s
}

func mustUnmarshal(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	p, err := unmarshal(s, "test")
	if err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return p
}

// check runs Check and fails the test on any failure.
func check(t *testing.T, server *randomServer, news resource.PropertyMap) resource.PropertyMap {
	t.Helper()
	resp, err := server.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: mustMarshal(t, news)})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(resp.GetFailures()) > 0 {
		t.Fatalf("Check failures: %v", resp.GetFailures())
	}
	return mustUnmarshal(t, resp.GetInputs())
}

// create checks news and creates a password from them, returning its outputs.
func create(t *testing.T, server *randomServer, news resource.PropertyMap) resource.PropertyMap {
	t.Helper()
	resp, err := server.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn:        testURN,
		Properties: mustMarshal(t, check(t, server, news)),
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if resp.GetId() != passwordID {
		t.Errorf("Create ID = %q, want %q", resp.GetId(), passwordID)
	}
	return mustUnmarshal(t, resp.GetProperties())
}

func secretString(t *testing.T, outputs resource.PropertyMap, key resource.PropertyKey) string {
	t.Helper()
	value, ok := outputs[key]
	if !ok {
		t.Fatalf("output %s is missing", key)
	}
	if !value.IsSecret() {
		t.Fatalf("output %s is not a secret: %v", key, value)
	}
	plain := value.SecretValue().Element
	if !plain.IsString() {
		t.Fatalf("output %s is %s, want a string", key, plain.TypeString())
	}
	return plain.StringValue()
}

func TestCheckFillsDefaults(t *testing.T) {
	tests := []struct {
		name   string
		news   map[string]any
		expect map[string]any
	}{
		{
			name: "only length",
			news: map[string]any{"length": 16},
			expect: map[string]any{
				"length": 16, "lower": true, "upper": true, "numeric": true, "number": true, "special": true,
				"minLower": 0, "minUpper": 0, "minNumeric": 0, "minSpecial": 0,
			},
		},
		{
			name:   "deprecated number decides numeric",
			news:   map[string]any{"length": 8, "number": false},
			expect: map[string]any{"number": false, "numeric": false},
		},
		{
			name:   "numeric decides the deprecated number",
			news:   map[string]any{"length": 8, "numeric": false},
			expect: map[string]any{"number": false, "numeric": false},
		},
		{
			name:   "explicit values are kept",
			news:   map[string]any{"length": 8, "special": false, "minUpper": 2, "overrideSpecial": "_"},
			expect: map[string]any{"special": false, "minUpper": 2, "overrideSpecial": "_", "lower": true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checked := check(t, &randomServer{}, props(tt.news))
			for key, want := range tt.expect {
				got := checked[resource.PropertyKey(key)]
				if !got.DeepEquals(resource.NewPropertyValue(want)) {
					t.Errorf("%s = %v, want %v", key, got, want)
				}
			}
			for _, absent := range []resource.PropertyKey{overrideSpecialKey, keepersKey} {
				if _, given := tt.news[string(absent)]; !given && checked.HasValue(absent) {
					t.Errorf("%s = %v, want it left absent", absent, checked[absent])
				}
			}
		})
	}
}

func TestCheckRejectsImpossibleInputs(t *testing.T) {
	tests := []struct {
		name         string
		news         map[string]any
		wantProperty string
		wantReason   string
	}{
		{"length missing", map[string]any{}, "length", "required"},
		{"length zero", map[string]any{"length": 0}, "length", "at least 1"},
		{"length fractional", map[string]any{"length": 2.5}, "length", "whole number"},
		{"length not a number", map[string]any{"length": "16"}, "length", "must be a number"},
		{"length huge", map[string]any{"length": 1 << 30}, "length", "at most"},
		{"negative minimum", map[string]any{"length": 8, "minSpecial": -1}, "minSpecial", "negative"},
		{"flag not a boolean", map[string]any{"length": 8, "upper": "yes"}, "upper", "boolean"},
		{"keepers not strings", map[string]any{"length": 8, "keepers": map[string]any{"a": 1}}, "keepers", `"a"`},
		{"overrideSpecial not a string", map[string]any{"length": 8, "overrideSpecial": 3}, "overrideSpecial", "string"},
		{"unknown property", map[string]any{"length": 8, "lenght": 9}, "lenght", "not a RandomPassword input"},
		{
			"length below the sum of minimums",
			map[string]any{"length": 5, "minUpper": 2, "minLower": 2, "minNumeric": 1, "minSpecial": 1},
			"length", "minUpper + minLower + minNumeric + minSpecial (6)",
		},
		{
			"all classes disabled",
			map[string]any{"length": 8, "lower": false, "upper": false, "numeric": false, "special": false},
			"numeric", "at least one of lower, upper, numeric and special",
		},
		{
			"number and numeric disagree",
			map[string]any{"length": 8, "number": true, "numeric": false},
			"numeric", "conflicts with the deprecated number",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := &randomServer{}
			resp, err := server.Check(context.Background(), &pulumirpc.CheckRequest{
				Urn: testURN, News: mustMarshal(t, props(tt.news)),
			})
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			for _, failure := range resp.GetFailures() {
				if failure.GetProperty() == tt.wantProperty && strings.Contains(failure.GetReason(), tt.wantReason) {
					return
				}
			}
			t.Errorf("Check failures = %v, want one on %s containing %q", resp.GetFailures(), tt.wantProperty, tt.wantReason)
		})
	}
}

func TestCheckLeavesUnknownsForLater(t *testing.T) {
	news := props(map[string]any{"minUpper": 4})
	news[lengthKey] = resource.MakeComputed(resource.NewNumberProperty(0))
	news[keepersKey] = resource.MakeComputed(resource.NewObjectProperty(nil))
	server := &randomServer{}
	resp, err := server.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: mustMarshal(t, news)})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(resp.GetFailures()) > 0 {
		t.Fatalf("Check failures = %v, want none while length is unknown", resp.GetFailures())
	}
}

func TestCreate(t *testing.T) {
	server := &randomServer{}
	outputs := create(t, server, props(map[string]any{
		"length":  24,
		"keepers": map[string]any{"rotation": "2024-01"},
	}))

	result := secretString(t, outputs, resultKey)
	if len(result) != 24 {
		t.Errorf("result has %d characters, want 24", len(result))
	}
	hash := secretString(t, outputs, bcryptHashKey)
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(result)); err != nil {
		t.Errorf("bcryptHash does not verify against result: %v", err)
	}
	for key, want := range map[resource.PropertyKey]any{
		lengthKey: 24, lowerKey: true, numberKey: true, minSpecialKey: 0,
		keepersKey: map[string]any{"rotation": "2024-01"},
	} {
		if !outputs[key].DeepEquals(resource.NewPropertyValue(want)) {
			t.Errorf("output %s = %v, want %v", key, outputs[key], want)
		}
	}

	again := create(t, server, props(map[string]any{"length": 24}))
	if secretString(t, again, resultKey) == result {
		t.Error("two creations produced the same password")
	}
}

func TestCreateHashesTheFirst72BytesOfLongPasswords(t *testing.T) {
	outputs := create(t, &randomServer{}, props(map[string]any{"length": 100}))
	result := secretString(t, outputs, resultKey)
	hash := secretString(t, outputs, bcryptHashKey)
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(result[:72])); err != nil {
		t.Errorf("bcryptHash does not verify against the first 72 bytes: %v", err)
	}
}

func TestCreatePreviewLeavesPasswordUnknown(t *testing.T) {
	server := &randomServer{}
	checked := check(t, server, props(map[string]any{"length": 12}))
	resp, err := server.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: testURN, Properties: mustMarshal(t, checked), Preview: true,
	})
	if err != nil {
		t.Fatalf("Create(preview): %v", err)
	}
	outputs := mustUnmarshal(t, resp.GetProperties())
	for _, key := range []resource.PropertyKey{resultKey, bcryptHashKey} {
		if !outputs[key].IsComputed() {
			t.Errorf("preview %s = %v, want unknown", key, outputs[key])
		}
	}
	if !outputs[lengthKey].DeepEquals(resource.NewNumberProperty(12)) {
		t.Errorf("preview length = %v, want 12", outputs[lengthKey])
	}
}

func TestDiff(t *testing.T) {
	base := map[string]any{"length": 16, "keepers": map[string]any{"rotation": "1"}}
	with := func(changes map[string]any) map[string]any {
		merged := map[string]any{}
		for k, v := range base {
			merged[k] = v
		}
		for k, v := range changes {
			if v == nil {
				delete(merged, k)
			} else {
				merged[k] = v
			}
		}
		return merged
	}
	tests := []struct {
		name         string
		news         map[string]any
		wantReplaces []string
		wantKind     pulumirpc.PropertyDiff_Kind
	}{
		{"no change", base, nil, 0},
		{"defaults spelled out", with(map[string]any{"lower": true, "minUpper": 0}), nil, 0},
		{"number renamed to numeric", with(map[string]any{"numeric": true}), nil, 0},
		{"keepers value changed", with(map[string]any{"keepers": map[string]any{"rotation": "2"}}),
			[]string{"keepers"}, pulumirpc.PropertyDiff_UPDATE_REPLACE},
		{"keepers removed", with(map[string]any{"keepers": nil}),
			[]string{"keepers"}, pulumirpc.PropertyDiff_DELETE_REPLACE},
		{"overrideSpecial added", with(map[string]any{"overrideSpecial": "_-"}),
			[]string{"overrideSpecial"}, pulumirpc.PropertyDiff_ADD_REPLACE},
		{"empty overrideSpecial is no change", with(map[string]any{"overrideSpecial": ""}), nil, 0},
		{"length", with(map[string]any{"length": 20}), []string{"length"}, pulumirpc.PropertyDiff_UPDATE_REPLACE},
		{"lower", with(map[string]any{"lower": false}), []string{"lower"}, pulumirpc.PropertyDiff_UPDATE_REPLACE},
		{"upper", with(map[string]any{"upper": false}), []string{"upper"}, pulumirpc.PropertyDiff_UPDATE_REPLACE},
		{"special", with(map[string]any{"special": false}), []string{"special"}, pulumirpc.PropertyDiff_UPDATE_REPLACE},
		{"numeric", with(map[string]any{"numeric": false}),
			[]string{"numeric", "number"}, pulumirpc.PropertyDiff_UPDATE_REPLACE},
		{"minLower", with(map[string]any{"minLower": 1}), []string{"minLower"}, pulumirpc.PropertyDiff_UPDATE_REPLACE},
		{"minUpper", with(map[string]any{"minUpper": 1}), []string{"minUpper"}, pulumirpc.PropertyDiff_UPDATE_REPLACE},
		{"minNumeric", with(map[string]any{"minNumeric": 1}),
			[]string{"minNumeric"}, pulumirpc.PropertyDiff_UPDATE_REPLACE},
		{"minSpecial", with(map[string]any{"minSpecial": 1}),
			[]string{"minSpecial"}, pulumirpc.PropertyDiff_UPDATE_REPLACE},
	}
	server := &randomServer{}
	state := create(t, server, props(base))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := server.Diff(context.Background(), &pulumirpc.DiffRequest{
				Id:   passwordID,
				Urn:  testURN,
				Olds: mustMarshal(t, state),
				News: mustMarshal(t, check(t, server, props(tt.news))),
			})
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			assertReplaces(t, resp, tt.wantReplaces, tt.wantKind)
		})
	}
}

func TestDiffTreatsUnknownInputsAsReplacing(t *testing.T) {
	server := &randomServer{}
	state := create(t, server, props(map[string]any{"length": 16}))
	news := check(t, server, props(map[string]any{"length": 16}))
	news[keepersKey] = resource.MakeComputed(resource.NewObjectProperty(nil))
	resp, err := server.Diff(context.Background(), &pulumirpc.DiffRequest{
		Urn: testURN, Olds: mustMarshal(t, state), News: mustMarshal(t, news),
	})
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	assertReplaces(t, resp, []string{"keepers"}, pulumirpc.PropertyDiff_ADD_REPLACE)
}

func TestDiffIgnoresSecretness(t *testing.T) {
	server := &randomServer{}
	state := create(t, server, props(map[string]any{"length": 16, "keepers": map[string]any{"k": "v"}}))
	news := check(t, server, props(map[string]any{"length": 16}))
	news[keepersKey] = resource.MakeSecret(resource.NewPropertyValue(map[string]any{"k": "v"}))
	resp, err := server.Diff(context.Background(), &pulumirpc.DiffRequest{
		Urn: testURN, Olds: mustMarshal(t, state), News: mustMarshal(t, news),
	})
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	assertReplaces(t, resp, nil, 0)
}

func assertReplaces(t *testing.T, resp *pulumirpc.DiffResponse, want []string, wantKind pulumirpc.PropertyDiff_Kind) {
	t.Helper()
	if resp.GetDeleteBeforeReplace() {
		t.Error("DeleteBeforeReplace = true, want false")
	}
	if len(want) == 0 {
		if resp.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE || len(resp.GetReplaces()) > 0 {
			t.Errorf("Diff = %v %v, want no changes", resp.GetChanges(), resp.GetReplaces())
		}
		return
	}
	if resp.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME {
		t.Errorf("Changes = %v, want DIFF_SOME", resp.GetChanges())
	}
	if !slices.Equal(slices.Sorted(slices.Values(resp.GetReplaces())), slices.Sorted(slices.Values(want))) {
		t.Errorf("Replaces = %v, want %v", resp.GetReplaces(), want)
	}
	for _, key := range want {
		if got := resp.GetDetailedDiff()[key].GetKind(); got != wantKind {
			t.Errorf("DetailedDiff[%s] = %v, want %v", key, got, wantKind)
		}
	}
}

func TestReadKeepsState(t *testing.T) {
	server := &randomServer{}
	inputs := check(t, server, props(map[string]any{"length": 10}))
	state := create(t, server, props(map[string]any{"length": 10}))
	resp, err := server.Read(context.Background(), &pulumirpc.ReadRequest{
		Id: passwordID, Urn: testURN, Properties: mustMarshal(t, state), Inputs: mustMarshal(t, inputs),
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if resp.GetId() != passwordID {
		t.Errorf("Read ID = %q, want %q", resp.GetId(), passwordID)
	}
	if got := mustUnmarshal(t, resp.GetProperties()); !got.DeepEquals(state) {
		t.Errorf("Read properties = %v, want the state unchanged %v", got, state)
	}
	if got := mustUnmarshal(t, resp.GetInputs()); !got.DeepEquals(inputs) {
		t.Errorf("Read inputs = %v, want %v", got, inputs)
	}
}

func TestReadImportsThePasswordFromTheID(t *testing.T) {
	server := &randomServer{}
	const imported = "s3cret-Imported"
	resp, err := server.Read(context.Background(), &pulumirpc.ReadRequest{Id: imported, Urn: testURN})
	if err != nil {
		t.Fatalf("Read(import): %v", err)
	}
	if resp.GetId() != passwordID {
		t.Errorf("imported ID = %q, want %q", resp.GetId(), passwordID)
	}
	outputs := mustUnmarshal(t, resp.GetProperties())
	if got := secretString(t, outputs, resultKey); got != imported {
		t.Errorf("imported result = %q, want %q", got, imported)
	}
	hash := secretString(t, outputs, bcryptHashKey)
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(imported)); err != nil {
		t.Errorf("imported bcryptHash does not verify: %v", err)
	}

	// A program declaring the same length must see the import as no change,
	// which is what lets the engine accept it.
	inputs := mustUnmarshal(t, resp.GetInputs())
	diff, err := server.Diff(context.Background(), &pulumirpc.DiffRequest{
		Urn:  testURN,
		Olds: mustMarshal(t, outputs),
		News: mustMarshal(t, check(t, server, props(map[string]any{"length": len(imported)}))),
	})
	if err != nil {
		t.Fatalf("Diff after import: %v", err)
	}
	assertReplaces(t, diff, nil, 0)
	if inputs.HasValue(resultKey) || !inputs[lengthKey].DeepEquals(resource.NewNumberProperty(float64(len(imported)))) {
		t.Errorf("imported inputs = %v, want length %d and no result", inputs, len(imported))
	}
}

func TestUpdateKeepsThePassword(t *testing.T) {
	server := &randomServer{}
	state := create(t, server, props(map[string]any{"length": 10}))
	news := check(t, server, props(map[string]any{"length": 10, "keepers": map[string]any{"a": "b"}}))
	resp, err := server.Update(context.Background(), &pulumirpc.UpdateRequest{
		Id: passwordID, Urn: testURN, Olds: mustMarshal(t, state), News: mustMarshal(t, news),
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	outputs := mustUnmarshal(t, resp.GetProperties())
	if secretString(t, outputs, resultKey) != secretString(t, state, resultKey) {
		t.Error("Update changed the password")
	}
	if !outputs[keepersKey].DeepEquals(news[keepersKey]) {
		t.Errorf("Update keepers = %v, want %v", outputs[keepersKey], news[keepersKey])
	}
}

func TestOtherResourceTypesAreRejected(t *testing.T) {
	const stringURN = "urn:pulumi:dev::nexios-k8s::random:index/randomString:RandomString::s"
	_, err := (&randomServer{}).Check(context.Background(), &pulumirpc.CheckRequest{
		Urn: stringURN, News: mustMarshal(t, props(map[string]any{"length": 8})),
	})
	if err == nil || !strings.Contains(err.Error(), "random:index/randomString:RandomString") {
		t.Errorf("Check(RandomString) error = %v, want one naming the unsupported type", err)
	}
}

// TestSchemaMatchesTheImplementation keeps the schema handed to `pulumi import`
// in step with the inputs Check accepts.
func TestSchemaMatchesTheImplementation(t *testing.T) {
	resp, err := (&randomServer{}).GetSchema(context.Background(), &pulumirpc.GetSchemaRequest{})
	if err != nil {
		t.Fatalf("GetSchema: %v", err)
	}
	var spec struct {
		Name      string
		Version   string
		Resources map[string]struct {
			Properties      map[string]struct{ Secret bool }
			InputProperties map[string]any
			RequiredInputs  []string
		}
	}
	if err := json.Unmarshal([]byte(resp.GetSchema()), &spec); err != nil {
		t.Fatalf("schema is not valid JSON: %v", err)
	}
	if spec.Name != "random" || spec.Version != providerVersion {
		t.Errorf("schema names %s %s, want random %s", spec.Name, spec.Version, providerVersion)
	}
	password, ok := spec.Resources[passwordType]
	if !ok || len(spec.Resources) != 1 {
		t.Fatalf("schema resources = %v, want only %s", spec.Resources, passwordType)
	}
	var inputs []string
	for _, input := range passwordInputs {
		inputs = append(inputs, string(input.key))
	}
	if got := slices.Sorted(maps.Keys(password.InputProperties)); !slices.Equal(got, slices.Sorted(slices.Values(inputs))) {
		t.Errorf("schema inputs = %v, want %v", got, inputs)
	}
	for _, key := range []resource.PropertyKey{resultKey, bcryptHashKey} {
		if !password.Properties[string(key)].Secret {
			t.Errorf("schema does not mark %s secret", key)
		}
	}
	if !slices.Equal(password.RequiredInputs, []string{"length"}) {
		t.Errorf("schema requiredInputs = %v, want [length]", password.RequiredInputs)
	}
}
