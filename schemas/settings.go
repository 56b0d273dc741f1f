package schemas

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// settingsJSON is the settings registry: settings.json beside this file.
// The Python workload reads the same file (collectors/workload/vit_settings.py).
//
//go:embed settings.json
var settingsJSON []byte

// SettingsJSON returns the registry file's bytes, as embedded.
func SettingsJSON() []byte { return slices.Clone(settingsJSON) }

// Setting types.
const (
	TypeInt    = "int"
	TypeFloat  = "float"
	TypeString = "string"
	TypeBool   = "bool"
)

// Setting is one run setting as the registry declares it: the one place a
// setting's name, type, default and allowed values are written. The plan's
// keys, batchdir.Settings, request.json, the workload, run.json and the runs
// table's setting columns are all derived from (or tested against) it.
type Setting struct {
	Key  string `json:"key"`
	Type string `json:"type"`
	// Default is the value the workload uses when the request leaves the
	// setting null: int64, float64, string or bool; nil means derived by the
	// workload from other settings (Doc says how).
	Default any `json:"default"`
	// Choices are the allowed values (int64 or string), nil for any.
	Choices []any    `json:"choices,omitempty"`
	Min     *float64 `json:"min,omitempty"`
	Max     *float64 `json:"max,omitempty"`
	Unit    string   `json:"unit,omitempty"`
	Doc     string   `json:"doc"`
	// Since is the schema version that added the setting (and its runs
	// column).
	Since int `json:"since"`
	// Plan is false for settings a plan may not set (derived ones, and
	// model, which in a plan names an architecture of its models section).
	Plan *bool `json:"plan,omitempty"`
	// Phase is "clean" for a setting only the clean phase uses (its
	// measurement windows): the traced phase does not report it, and the
	// collector does not compare it between the phases. Empty: both phases.
	Phase string `json:"phase,omitempty"`
}

// CleanOnly says whether only the clean phase uses the setting.
func (s Setting) CleanOnly() bool { return s.Phase == "clean" }

// Plannable says whether a plan may set the setting.
func (s Setting) Plannable() bool { return s.Plan == nil || *s.Plan }

// ArrowType is the Arrow type of the setting's runs column.
func (s Setting) ArrowType() arrow.DataType {
	switch s.Type {
	case TypeInt:
		return i32
	case TypeFloat:
		return f64
	case TypeBool:
		return bln
	}
	return str
}

// Check returns a problem with a value of the setting (int64, float64,
// string or bool; an integral float64 counts as an int), or nil.
func (s Setting) Check(v any) error {
	switch s.Type {
	case TypeInt:
		var i int64
		switch x := v.(type) {
		case int64:
			i = x
		case int:
			i = int64(x)
		case float64:
			if x != math.Trunc(x) || math.IsInf(x, 0) || math.Abs(x) > math.MaxInt32 {
				return fmt.Errorf("must be an integer, not %v", x)
			}
			i = int64(x)
		default:
			return fmt.Errorf("must be an integer, not %s", describeValue(v))
		}
		if i > math.MaxInt32 || i < math.MinInt32 {
			return fmt.Errorf("%d is too large", i)
		}
		return s.checkNumber(float64(i))
	case TypeFloat:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case int64:
			f = float64(x)
		case int:
			f = float64(x)
		default:
			return fmt.Errorf("must be a number, not %s", describeValue(v))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("must be a finite number, not %v", f)
		}
		return s.checkNumber(f)
	case TypeBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("must be true or false, not %s", describeValue(v))
		}
		return nil
	default:
		x, ok := v.(string)
		if !ok {
			return fmt.Errorf("must be a string, not %s", describeValue(v))
		}
		if s.Choices != nil && !slices.Contains(s.Choices, any(x)) {
			return fmt.Errorf("%q is not one of %s", x, s.ChoicesText())
		}
		return nil
	}
}

func (s Setting) checkNumber(f float64) error {
	if s.Choices != nil {
		for _, c := range s.Choices {
			if n, ok := c.(int64); ok && float64(n) == f {
				return nil
			}
			if n, ok := c.(float64); ok && n == f {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", s.ChoicesText())
	}
	if s.Min != nil && f < *s.Min {
		return fmt.Errorf("must be at least %v", *s.Min)
	}
	if s.Max != nil && f > *s.Max {
		return fmt.Errorf("must be at most %v", *s.Max)
	}
	return nil
}

// ChoicesText lists the choices as "a, b, c".
func (s Setting) ChoicesText() string {
	parts := make([]string, len(s.Choices))
	for i, c := range s.Choices {
		parts[i] = fmt.Sprint(c)
	}
	return strings.Join(parts, ", ")
}

func describeValue(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the text %q", v)
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	}
	return fmt.Sprintf("%v", v)
}

var settingKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// ParseSettings reads and checks a registry: a JSON array of settings with
// unique keys, a known type, a default and choices of that type, a doc and
// a since between 1 and Version.
func ParseSettings(data []byte) ([]Setting, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var raw []struct {
		Setting
		Default json.RawMessage   `json:"default"`
		Choices []json.RawMessage `json:"choices,omitempty"`
	}
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("schemas: settings.json: %w", err)
	}
	out := make([]Setting, 0, len(raw))
	seen := map[string]bool{}
	for i, r := range raw {
		s := r.Setting
		where := fmt.Sprintf("schemas: settings.json: setting %d (%q)", i, s.Key)
		if !settingKeyRE.MatchString(s.Key) {
			return nil, fmt.Errorf("%s: key must be lower-case letters, digits and _", where)
		}
		if seen[s.Key] {
			return nil, fmt.Errorf("%s: duplicate key", where)
		}
		seen[s.Key] = true
		switch s.Type {
		case TypeInt, TypeFloat, TypeString, TypeBool:
		default:
			return nil, fmt.Errorf("%s: type %q is not int, float, string or bool", where, s.Type)
		}
		if strings.TrimSpace(s.Doc) == "" {
			return nil, fmt.Errorf("%s: no doc", where)
		}
		if s.Since < 1 || s.Since > Version {
			return nil, fmt.Errorf("%s: since %d is not a schema version (1-%d)", where, s.Since, Version)
		}
		if s.Phase != "" && s.Phase != "clean" {
			return nil, fmt.Errorf("%s: phase %q is not clean (or absent: both phases)", where, s.Phase)
		}
		if (s.Min != nil || s.Max != nil) && s.Type != TypeInt && s.Type != TypeFloat {
			return nil, fmt.Errorf("%s: min and max are for numbers", where)
		}
		for _, c := range r.Choices {
			v, err := s.decodeValue(c)
			if err != nil || v == nil {
				return nil, fmt.Errorf("%s: choice %s: not a %s", where, c, s.Type)
			}
			if slices.Contains(s.Choices, v) {
				return nil, fmt.Errorf("%s: choice %s listed twice", where, c)
			}
			s.Choices = append(s.Choices, v)
		}
		if s.Type == TypeBool && s.Choices != nil {
			return nil, fmt.Errorf("%s: a bool has no choices", where)
		}
		if r.Default == nil {
			return nil, fmt.Errorf("%s: no default (write null for a derived one)", where)
		}
		d, err := s.decodeValue(r.Default)
		if err != nil {
			return nil, fmt.Errorf("%s: default %s: %w", where, r.Default, err)
		}
		if d != nil {
			if err := s.Check(d); err != nil {
				return nil, fmt.Errorf("%s: default %s: %w", where, r.Default, err)
			}
		}
		s.Default = d
		out = append(out, s)
	}
	return out, nil
}

// decodeValue decodes one JSON value of the setting's type: int64,
// float64, string or bool; nil for null.
func (s Setting) decodeValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	switch s.Type {
	case TypeInt:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("not an int")
		}
		i, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("not an int")
		}
		return i, nil
	case TypeFloat:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("not a number")
		}
		f, err := n.Float64()
		if err != nil {
			return nil, fmt.Errorf("not a number")
		}
		return f, nil
	case TypeBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("not a bool")
		}
		return b, nil
	}
	x, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("not a string")
	}
	return x, nil
}

var registry = mustParseSettings()

func mustParseSettings() []Setting {
	s, err := ParseSettings(settingsJSON)
	if err != nil {
		// The file is compiled in: a malformed one is a build defect that
		// TestSettingsRegistry reports first.
		panic(err)
	}
	return s
}

// Settings returns every run setting in registry order (the order of
// batchdir.Settings, request.json and the workload's SETTING_KEYS).
func Settings() []Setting { return slices.Clone(registry) }

// SettingByKey returns the setting of that key.
func SettingByKey(key string) (Setting, bool) {
	for _, s := range registry {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// SettingKeys returns every setting's key in registry order.
func SettingKeys() []string {
	out := make([]string, len(registry))
	for i, s := range registry {
		out[i] = s.Key
	}
	return out
}
