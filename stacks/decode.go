package stacks

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
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

	// readsAlso lists other keys the check that found the problem read. When one of them was rejected
	// while decoding, what the check saw there is a default, not what the stack file says, so the
	// problem is dropped like one found at that key (unrelatedTo).
	readsAlso []string
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

// addReading adds a problem at key found by a check that also read the key other.
func (ps *problems) addReading(key, other, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Message: fmt.Sprintf(format, args...), readsAlso: []string{other}})
}

// objectKeys maps each object-valued top-level key to the Config field it decodes into.
var objectKeys = map[string]func(*Config) any{
	"target":     func(c *Config) any { return &c.Target },
	"app":        func(c *Config) any { return &c.App },
	"secrets":    func(c *Config) any { return &c.Secrets },
	"monitoring": func(c *Config) any { return &c.Monitoring },
	"logging":    func(c *Config) any { return &c.Logging },
	"postgres":   func(c *Config) any { return &c.Postgres },
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
	var failed []string
	for _, key := range slices.Sorted(maps.Keys(own)) {
		s := own[key]
		cfg.secretKeys[key] = s.Secret
		if field, ok := objectKeys[key]; ok {
			failed = append(failed, decodeObject(key, s.Value, field(&cfg), &ps)...)
		}
	}
	if s, ok := own[keyDatabaseURL]; ok && s.Value != "" {
		cfg.Database = Database{URL: s.Value, URLIsSecret: s.Secret}
	}

	var checks problems
	cfg.validate(&checks)
	ps = append(ps, unrelatedTo(failed, checks)...)
	if len(ps) > 0 {
		return nil, &ConfigError{Stack: stack, Problems: ps}
	}
	if cfg.Database.URL == "" && cfg.Environment == Dev && !cfg.Postgres.Enabled {
		cfg.Database = Database{URL: defaultDatabaseURL}
	}
	return &cfg, nil
}

// unrelatedTo drops the validation problems that a rejected value may have caused: a value that failed
// to decode left its default (or nothing) in place, so a check of that key, of a key inside it, or of
// a key holding it (a list item that "needs resources and verbs" when its verbs were mistyped) would
// blame the user for something they did not write; so would a check that read a rejected key besides
// its own (Problem.readsAlso). The decoding problem already names the key.
func unrelatedTo(failed []string, checks problems) problems {
	var out problems
	for _, p := range checks {
		related := false
		for _, f := range failed {
			related = related || within(p.Key, f) || within(f, p.Key)
			for _, other := range p.readsAlso {
				related = related || within(other, f) || within(f, other)
			}
		}
		if !related {
			out = append(out, p)
		}
	}
	return out
}

// within reports whether key is parent or lies inside it: "a.b[0].c" is within "a.b", "a.bc" is not.
func within(key, parent string) bool {
	rest, ok := strings.CutPrefix(key, parent)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
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
// so that keys absent from the stack file keep their default. It returns the paths whose value was given
// but could not be decoded, so that validation does not blame what those values would have set.
func decodeObject(key, raw string, target any, ps *problems) (failed []string) {
	full := Namespace + ":" + key
	generic, err := parseJSON(raw)
	if err != nil {
		// Pulumi passes scalars as bare text, which is not JSON.
		generic = raw
	}
	if _, isObject := generic.(map[string]any); !isObject {
		ps.add(full, "must be a mapping of keys, got %s; see README.md for its keys", describe(generic))
		return []string{full}
	}
	d := decoder{ps: ps}
	d.decode(full, generic, reflect.ValueOf(target).Elem())
	return d.failed
}

// parseJSON decodes one JSON value, keeping numbers as json.Number so that a quantity keeps the text the
// stack file gave (1e3 stays 1e3) and an integer is never rounded through a float.
func parseJSON(raw string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// decoder merges a generic JSON value (map[string]any, []any, json.Number or float64, string, bool,
// nil) into a typed value the way encoding/json does, except that it reports every unknown key and
// every mistyped value at its full path and keeps decoding the rest. encoding/json stops at the first
// error and names only the struct field, not the map key or list index that holds it.
type decoder struct {
	ps *problems
	// failed lists the paths whose value was given but rejected: what the target holds there (its
	// default, or a zero list item) is not what the stack file says, so validation must not judge it.
	failed []string
}

func (d *decoder) fail(path, format string, args ...any) {
	d.ps.add(path, format, args...)
	d.failed = append(d.failed, path)
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decode merges value into v, which must be settable. It returns false when value itself was rejected
// (a problem naming path was reported and v is unchanged); problems deeper inside value leave it true,
// so that a list item or map entry with one bad field still takes its place.
func (d *decoder) decode(path string, value any, v reflect.Value) bool {
	t := v.Type()
	// null empties what can be empty and leaves the rest as it was, as encoding/json does.
	if value == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			v.SetZero()
			return true
		}
	}
	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			elem := reflect.New(t.Elem())
			if !d.decode(path, value, elem.Elem()) {
				return false
			}
			v.Set(elem)
			return true
		}
		return d.decode(path, value, v.Elem())
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshalerType) {
		return d.unmarshalJSON(path, value, v)
	}
	if s, ok := value.(string); ok && reflect.PointerTo(t).Implements(textUnmarshalerType) {
		// A copy, so that a rejected value leaves the default in place.
		tmp := reflect.New(t)
		tmp.Elem().Set(v)
		if err := tmp.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.fail(path, "%v", err)
			return false
		}
		v.Set(tmp.Elem())
		return true
	}
	if value == nil {
		return true
	}

	switch t.Kind() {
	case reflect.Struct:
		return d.decodeStruct(path, value, v)
	case reflect.Map:
		return d.decodeMap(path, value, v)
	case reflect.Slice, reflect.Array:
		return d.decodeList(path, value, v)
	case reflect.Interface:
		if t.NumMethod() > 0 {
			break
		}
		v.Set(reflect.ValueOf(plainJSON(value)))
		return true
	case reflect.String:
		if s, ok := value.(string); ok {
			v.SetString(s)
			return true
		}
	case reflect.Bool:
		if b, ok := value.(bool); ok {
			v.SetBool(b)
			return true
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if text, ok := numberText(value); ok {
			return d.decodeWhole(path, text, v)
		}
	case reflect.Float32, reflect.Float64:
		if text, ok := numberText(value); ok {
			f, err := strconv.ParseFloat(text, 64)
			if err != nil || v.OverflowFloat(f) {
				d.fail(path, "%s is out of range", text)
				return false
			}
			v.SetFloat(f)
			return true
		}
	}
	d.fail(path, "expected %s, got %s", kindOf(t), describeNested(value))
	return false
}

// unmarshalJSON hands a type with its own json.Unmarshaler (such as Quantity) its value as JSON, on a
// copy of the current value so that a rejected value leaves the default in place.
func (d *decoder) unmarshalJSON(path string, value any, v reflect.Value) bool {
	raw, err := json.Marshal(value)
	if err != nil {
		d.fail(path, "cannot be read: %v", err)
		return false
	}
	tmp := reflect.New(v.Type())
	tmp.Elem().Set(v)
	if err := tmp.Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
		d.fail(path, "%v", err)
		return false
	}
	v.Set(tmp.Elem())
	return true
}

// decodeStruct merges a mapping into a struct field by field; keys without a field are reported with
// the closest valid key, and never stop the others from being decoded.
func (d *decoder) decodeStruct(path string, value any, v reflect.Value) bool {
	m, ok := value.(map[string]any)
	if !ok {
		d.fail(path, "expected %s, got %s", kindOf(v.Type()), describeNested(value))
		return false
	}
	fields := structFields(v.Type())
	var names []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		index, ok := fields[k]
		if !ok {
			if names == nil {
				names = slices.Sorted(maps.Keys(fields))
			}
			d.ps.add(path+"."+k, "unknown key%s", suggestion(k, names))
			continue
		}
		d.decode(path+"."+k, m[k], fieldByIndex(v, index))
	}
	return true
}

// decodeMap merges a mapping into a map: existing entries (defaults) stay unless the mapping names
// them, and each named entry is decoded from its zero value, as encoding/json does. A rejected entry
// is left out rather than stored as a zero value that validation would then blame.
func (d *decoder) decodeMap(path string, value any, v reflect.Value) bool {
	t := v.Type()
	m, ok := value.(map[string]any)
	if !ok {
		d.fail(path, "expected %s, got %s", kindOf(t), describeNested(value))
		return false
	}
	if t.Key().Kind() != reflect.String {
		d.fail(path, "cannot be configured: keys of type %s are not supported", t.Key())
		return false
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(m)))
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		elem := reflect.New(t.Elem()).Elem()
		if d.decode(path+"."+k, m[k], elem) {
			v.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), elem)
		}
	}
	return true
}

// decodeList replaces a list with the given one. A rejected item keeps its place as a zero value, so
// that the indices validation reports still match the stack file's.
func (d *decoder) decodeList(path string, value any, v reflect.Value) bool {
	t := v.Type()
	items, ok := value.([]any)
	if !ok {
		d.fail(path, "expected %s, got %s", kindOf(t), describeNested(value))
		return false
	}
	list := v
	if t.Kind() == reflect.Slice {
		list = reflect.MakeSlice(t, len(items), len(items))
	} else if len(items) > t.Len() {
		d.fail(path, "has %d items; at most %d are allowed", len(items), t.Len())
		return false
	}
	for i, item := range items {
		elem := reflect.New(t.Elem()).Elem()
		d.decode(fmt.Sprintf("%s[%d]", path, i), item, elem)
		list.Index(i).Set(elem)
	}
	if t.Kind() == reflect.Slice {
		v.Set(list)
	} else {
		for i := len(items); i < t.Len(); i++ {
			list.Index(i).SetZero()
		}
	}
	return true
}

// decodeWhole sets an integer field from a JSON number's text: 3 and 3.0 are 3, 2.5 is an error
// rather than 2, and a value the field cannot hold is an error rather than a wrapped one.
func (d *decoder) decodeWhole(path, text string, v reflect.Value) bool {
	unsigned := v.Kind() >= reflect.Uint && v.Kind() <= reflect.Uint64
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		if unsigned && n >= 0 && !v.OverflowUint(uint64(n)) {
			v.SetUint(uint64(n))
			return true
		}
		if !unsigned && !v.OverflowInt(n) {
			v.SetInt(n)
			return true
		}
		d.fail(path, "%s is out of range", text)
		return false
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		d.fail(path, "expected a whole number, got %s", text)
		return false
	}
	if f != math.Trunc(f) {
		d.fail(path, "expected a whole number, got %s", text)
		return false
	}
	// Whole floats such as 1e3 land here; beyond ±2^63 they cannot be an int64.
	if f < math.MinInt64 || f >= math.MaxInt64 || (unsigned && (f < 0 || v.OverflowUint(uint64(f)))) || (!unsigned && v.OverflowInt(int64(f))) {
		d.fail(path, "%s is out of range", text)
		return false
	}
	if unsigned {
		v.SetUint(uint64(f))
	} else {
		v.SetInt(int64(f))
	}
	return true
}

// numberText returns the text of a JSON number, whether it was parsed with UseNumber or not.
func numberText(value any) (string, bool) {
	switch n := value.(type) {
	case json.Number:
		return n.String(), true
	case float64:
		return strconv.FormatFloat(n, 'g', -1, 64), true
	}
	return "", false
}

// plainJSON turns the json.Numbers of a generic value into float64, what encoding/json stores in an any.
func plainJSON(value any) any {
	switch v := value.(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return v.String()
		}
		return f
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = plainJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plainJSON(e)
		}
		return out
	}
	return value
}

// structFields maps the JSON names of a struct's decodable fields to their index paths, following
// encoding/json's rules: the tag's name, else the Go name; "-" and unexported fields are skipped; the
// fields of an untagged embedded struct are promoted, a shallower field winning over a deeper one.
func structFields(t reflect.Type) map[string][]int {
	fields := map[string][]int{}
	depth := map[string]int{}
	for _, f := range reflect.VisibleFields(t) {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if name == "" && ft.Kind() == reflect.Struct {
				// Its fields are listed by VisibleFields themselves.
				continue
			}
		}
		if !f.IsExported() || behindUnexportedPointer(t, f.Index) {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if d, seen := depth[name]; seen && d <= len(f.Index) {
			continue
		}
		fields[name], depth[name] = f.Index, len(f.Index)
	}
	return fields
}

// behindUnexportedPointer reports whether a promoted field is reached through an unexported embedded
// pointer, which reflection cannot allocate (encoding/json refuses those too).
func behindUnexportedPointer(t reflect.Type, index []int) bool {
	for i := 1; i < len(index); i++ {
		f := t.FieldByIndex(index[:i])
		if f.Type.Kind() == reflect.Pointer && !f.IsExported() {
			return true
		}
	}
	return false
}

// jsonFields maps the JSON names of a struct's decodable fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for name, index := range structFields(t) {
		out[name] = t.FieldByIndex(index).Type
	}
	return out
}

// fieldByIndex is reflect.Value.FieldByIndex that allocates the nil embedded pointers on the way.
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
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

// kindOf says what a value of type t is written as in a stack file.
func kindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Pointer:
		return kindOf(t.Elem())
	default:
		return t.String()
	}
}

// describe names the kind of a top-level value, which Pulumi hands over as bare text when it is not an
// object.
func describe(v any) string {
	if _, ok := v.(string); ok {
		return "a plain value"
	}
	return describeNested(v)
}

// describeNested names the kind of a value inside an object. It never shows a string's text: the
// object may be a secret.
func describeNested(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "true or false"
	default:
		return "null"
	}
}
