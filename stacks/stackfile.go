package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// encryptedPlaceholder stands in for a value the stack file stores encrypted. Only its presence and its
// secrecy can be judged without the engine; it is a URL so that the keys that must be URLs
// (databaseUrl, the Alertmanager webhooks) accept it, and every problem about it is dropped anyway.
const encryptedPlaceholder = "https://encrypted.invalid/"

// CheckFiles validates a stack's configuration as its project file (Pulumi.yaml) and stack file
// (Pulumi.<stack>.yaml) hold it, without the Pulumi engine. A command runs it before it selects the
// stack in the backend, since selecting a stack that does not exist yet creates it: invalid input must
// leave the backend as it found it.
//
// Encrypted values cannot be read here: each counts as a secret value that is present, and problems
// about its content are left to Parse, which runs on the decrypted configuration once the stack is
// open. A stack file that imports Pulumi ESC environments gets its values from outside the files, so
// CheckFiles does not judge it. It returns a *ConfigError, or an error naming the file that cannot be
// parsed.
func CheckFiles(stack string, projectFile, stackFile []byte) error {
	settings, encrypted, err := settingsFromFiles(projectFile, stackFile)
	if err != nil || settings == nil {
		return err
	}
	_, err = Parse(stack, settings)
	var cerr *ConfigError
	if !errors.As(err, &cerr) {
		return err
	}
	var judged []Problem
	for _, p := range cerr.Problems {
		if !slices.ContainsFunc(encrypted, func(e string) bool { return within(p.Key, e) }) {
			judged = append(judged, p)
		}
	}
	if len(judged) == 0 {
		return nil
	}
	return &ConfigError{Stack: stack, Problems: judged}
}

// settingsFromFiles returns the settings the engine would hand the program, as far as the files tell,
// and the full key paths of the values stored encrypted. It returns no settings for a stack file that
// imports ESC environments.
func settingsFromFiles(projectFile, stackFile []byte) (map[string]Setting, []string, error) {
	var project struct {
		Name   string         `yaml:"name"`
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(projectFile, &project); err != nil {
		return nil, nil, fmt.Errorf("parsing Pulumi.yaml: %w", err)
	}
	var file struct {
		Config      map[string]any `yaml:"config"`
		Environment any            `yaml:"environment"`
	}
	if err := yaml.Unmarshal(stackFile, &file); err != nil {
		return nil, nil, fmt.Errorf("parsing the stack file: %w", err)
	}
	if file.Environment != nil {
		return nil, nil, nil
	}
	ns := project.Name
	if ns == "" {
		ns = Namespace
	}
	// Keys without a namespace belong to the project, in either file.
	full := func(key string) string {
		if strings.Contains(key, ":") {
			return key
		}
		return ns + ":" + key
	}

	values := map[string]any{}
	for key, v := range file.Config {
		values[full(key)] = v
	}
	// A project key the stack file does not set takes its declared value or default: a declaration is a
	// mapping (type, default, value, ...), anything else is the value itself.
	for key, decl := range project.Config {
		if _, set := values[full(key)]; set {
			continue
		}
		m, isDecl := decl.(map[string]any)
		if !isDecl {
			values[full(key)] = decl
			continue
		}
		for _, field := range []string{"value", "default"} {
			if v, ok := m[field]; ok {
				values[full(key)] = v
				break
			}
		}
	}

	settings := make(map[string]Setting, len(values))
	var encrypted []string
	for _, key := range slices.Sorted(maps.Keys(values)) {
		s, err := settingOf(key, values[key], &encrypted)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s from the stack file: %w", key, err)
		}
		settings[key] = s
	}
	return settings, encrypted, nil
}

// settingOf turns one YAML value into what the engine hands a program: strings as they are, other
// scalars as their text, objects and lists as JSON, secret when any part of them is encrypted.
func settingOf(key string, value any, encrypted *[]string) (Setting, error) {
	before := len(*encrypted)
	plain := plainValue(key, value, encrypted)
	secret := len(*encrypted) > before
	switch v := plain.(type) {
	case string:
		return Setting{Value: v, Secret: secret}, nil
	case nil:
		return Setting{}, nil
	case map[string]any, []any:
		raw, err := json.Marshal(v)
		if err != nil {
			return Setting{}, err
		}
		return Setting{Value: string(raw), Secret: secret}, nil
	default:
		return Setting{Value: fmt.Sprint(v), Secret: secret}, nil
	}
}

// plainValue replaces every encrypted value (a mapping holding only `secure`) with the placeholder,
// recording its path, and turns YAML's non-string mapping keys into strings for JSON.
func plainValue(path string, value any, encrypted *[]string) any {
	switch v := value.(type) {
	case map[string]any:
		if cipher, ok := v["secure"].(string); ok && len(v) == 1 && cipher != "" {
			*encrypted = append(*encrypted, path)
			return encryptedPlaceholder
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = plainValue(path+"."+k, e, encrypted)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			key := fmt.Sprint(k)
			out[key] = plainValue(path+"."+key, e, encrypted)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plainValue(fmt.Sprintf("%s[%d]", path, i), e, encrypted)
		}
		return out
	}
	return value
}
