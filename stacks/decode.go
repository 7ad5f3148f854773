package stacks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Setting is one configuration value as Pulumi hands it to a program: objects arrive as JSON text.
type Setting struct {
	Value  string
	Secret bool
}

// Problem is one thing wrong with a stack's configuration.
type Problem struct {
	// Key is the full key path, e.g. "nexios:app.autoscaling.maxReplicas".
	Key string
	// Message says what is wrong and how to fix it.
	Message string
}

// ConfigError lists every problem found in a stack's configuration.
type ConfigError struct {
	Stack    string
	Problems []Problem
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	noun := "problems"
	if len(e.Problems) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(&b, "stack %q: %d configuration %s (nothing was changed):", e.Stack, len(e.Problems), noun)
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  - %s: %s", p.Key, p.Message)
	}
	return b.String()
}

// problems collects Problems; its zero value is ready to use.
type problems []Problem

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// objectKeys maps each object-valued top-level key to the Config field it decodes into.
var objectKeys = map[string]func(*Config) any{
	"target":     func(c *Config) any { return &c.Target },
	"app":        func(c *Config) any { return &c.App },
	"secrets":    func(c *Config) any { return &c.Secrets },
	"monitoring": func(c *Config) any { return &c.Monitoring },
	"logging":    func(c *Config) any { return &c.Logging },
}

// Scalar top-level keys.
const (
	keyEnvironment = "environment"
	keyDatabaseURL = "databaseUrl"
)

// TopLevelKeys lists every key of the `nexios` namespace, sorted.
func TopLevelKeys() []string {
	keys := []string{keyEnvironment, keyDatabaseURL}
	for k := range objectKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Parse decodes a stack's settings (keyed "namespace:key") strictly over its environment's defaults and
// validates the result. Any problem, from any key, is reported together in one *ConfigError.
func Parse(stack string, settings map[string]Setting) (*Config, error) {
	var ps problems
	own := checkKeys(settings, &ps)

	env := environmentOf(stack, own, &ps)
	cfg, err := Defaults(env, stack)
	if err != nil {
		// environmentOf already reported why; validating against no profile would only add noise.
		return nil, &ConfigError{Stack: stack, Problems: ps}
	}
	cfg.secretKeys = map[string]bool{}
	for _, key := range slices.Sorted(maps.Keys(own)) {
		s := own[key]
		cfg.secretKeys[key] = s.Secret
		if field, ok := objectKeys[key]; ok {
			decodeObject(key, s.Value, field(&cfg), &ps)
		}
	}
	if s, ok := own[keyDatabaseURL]; ok && s.Value != "" {
		cfg.Database = Database{URL: s.Value, URLIsSecret: s.Secret}
	}

	cfg.validate(&ps)
	if len(ps) > 0 {
		return nil, &ConfigError{Stack: stack, Problems: ps}
	}
	if cfg.Database.URL == "" && cfg.Environment == Dev {
		cfg.Database = Database{URL: defaultDatabaseURL}
	}
	return &cfg, nil
}

// checkKeys returns the settings of this program's namespace, keyed without it, and reports keys that
// would be silently ignored: unknown `nexios` keys and `kubernetes` provider keys (the program uses an
// explicit provider configured from `nexios:target`, so the default provider's keys have no effect).
func checkKeys(settings map[string]Setting, ps *problems) map[string]Setting {
	own := map[string]Setting{}
	known := TopLevelKeys()
	for _, full := range slices.Sorted(maps.Keys(settings)) {
		ns, key, found := strings.Cut(full, ":")
		if !found {
			ns, key = Namespace, full
		}
		switch ns {
		case Namespace:
			if !slices.Contains(known, key) {
				ps.add(Namespace+":"+key, "unknown key%s", suggestion(key, known))
				continue
			}
			own[key] = settings[full]
		case "kubernetes":
			ps.add(full, "has no effect: this program uses an explicit provider; set the target under nexios:target "+
				"(kubeconfig, context, renderYamlTo, namespace) and remove it with `pulumi config rm %s`", full)
		}
	}
	return own
}

// EnvironmentOf returns the environment of a stack from its `nexios:environment` setting or its name.
func EnvironmentOf(stack string, settings map[string]Setting) (Environment, error) {
	var ps problems
	own := map[string]Setting{}
	for key, s := range settings {
		if k, ok := strings.CutPrefix(key, Namespace+":"); ok {
			own[k] = s
		}
	}
	env := environmentOf(stack, own, &ps)
	if len(ps) > 0 {
		return "", &ConfigError{Stack: stack, Problems: ps}
	}
	return env, nil
}

// environmentOf picks the profile: the `environment` key if set, otherwise the stack's name.
func environmentOf(stack string, own map[string]Setting, ps *problems) Environment {
	// Pulumi.yaml declares an empty default for every optional key, so empty means unset.
	if s, ok := own[keyEnvironment]; ok && s.Value != "" {
		env := Environment(strings.TrimSpace(s.Value))
		if env != Dev && env != Prod {
			ps.add(Namespace+":"+keyEnvironment, "%q is not an environment; use dev or prod", s.Value)
		}
		return env
	}
	for _, env := range []Environment{Dev, Prod} {
		e := string(env)
		if stack == e || strings.HasPrefix(stack, e+"-") || strings.HasSuffix(stack, "-"+e) {
			return env
		}
	}
	if stack == "production" {
		return Prod
	}
	ps.add(Namespace+":"+keyEnvironment, "stack %q does not name an environment; set one with "+
		"`pulumi config set %s:%s dev` (or prod) -s %s", stack, Namespace, keyEnvironment, stack)
	return ""
}

// decodeObject merges the JSON object in raw into target, which already holds the environment's defaults,
// so that keys absent from the stack file keep their default.
func decodeObject(key, raw string, target any, ps *problems) {
	full := Namespace + ":" + key
	var generic any
	if err := json.Unmarshal([]byte(raw), &generic); err != nil {
		// Pulumi passes scalars as bare text, which is not JSON.
		generic = raw
	}
	if _, isObject := generic.(map[string]any); !isObject {
		ps.add(full, "must be a mapping of keys, got %s; see README.md for its keys", describe(generic))
		return
	}
	before := len(*ps)
	walkUnknownKeys(full, generic, reflect.TypeOf(target).Elem(), ps)
	if len(*ps) > before {
		// Unknown keys already explain the failure; a decode error about them would repeat it.
		return
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	if err := dec.Decode(target); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			ps.add(full+"."+typeErr.Field, "expected %s, got %s", kindOf(typeErr.Type), typeErr.Value)
			return
		}
		ps.add(full, "%v", err)
	}
}

// walkUnknownKeys reports every mapping key in value that has no field in t, with its full path and the
// closest valid key. encoding/json's DisallowUnknownFields names neither the path nor an alternative.
func walkUnknownKeys(path string, value any, t reflect.Type, ps *problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := value.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			names := make([]string, 0, len(fields))
			for n := range fields {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, k := range slices.Sorted(maps.Keys(v)) {
				ft, ok := fields[k]
				if !ok {
					ps.add(path+"."+k, "unknown key%s", suggestion(k, names))
					continue
				}
				walkUnknownKeys(path+"."+k, v[k], ft, ps)
			}
		case reflect.Map:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walkUnknownKeys(path+"."+k, v[k], t.Elem(), ps)
			}
		}
	case []any:
		if t.Kind() == reflect.Slice {
			for i, e := range v {
				walkUnknownKeys(fmt.Sprintf("%s[%d]", path, i), e, t.Elem(), ps)
			}
		}
	}
}

// jsonFields maps the JSON names of a struct's decodable fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		fields[name] = f.Type
	}
	return fields
}

// suggestion returns ` (did you mean "x"?)` for the closest candidate, or the list of valid keys.
func suggestion(key string, candidates []string) string {
	best, bestDistance := "", len(key)/2+2
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(key), strings.ToLower(c)); d < bestDistance {
			best, bestDistance = c, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return fmt.Sprintf("; valid keys: %s", strings.Join(candidates, ", "))
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func kindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	default:
		return t.String()
	}
}

func describe(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a plain value"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return "null"
	}
}
