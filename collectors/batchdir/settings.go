package batchdir

import (
	"fmt"
	"math"
	"reflect"
	"strings"
)

// Settings are a run's workload settings, one field per setting of the
// registry schemas/settings.json, in its order (settings_test.go checks
// names, order and types against it). In run.json, Requested is what the
// plan asked for and Effective what the workload actually did; only
// Effective labels the run.
//
// Every field is a pointer: nil is "not given" (null in JSON: the
// workload's default), and a zero is a value (cpu_workers 0, warmup_batches
// 0 are recorded as 0).
type Settings struct {
	Model               *string  `json:"model"`
	Patch               *int     `json:"patch"`
	Depth               *int     `json:"depth"`
	Hidden              *int     `json:"hidden"`
	Heads               *int     `json:"heads"`
	MLP                 *int     `json:"mlp"`
	Resolution          *int     `json:"resolution"`
	SourceResolution    *int     `json:"source_resolution"`
	BatchSize           *int     `json:"batch_size"`
	DType               *string  `json:"dtype"`
	CompileMode         *string  `json:"compile_mode"`
	Pipeline            *string  `json:"pipeline"`
	QueueDepth          *int     `json:"queue_depth"`
	Preprocess          *string  `json:"preprocess"`
	CPUWorkers          *int     `json:"cpu_workers"`
	WarmupBatches       *int     `json:"warmup_batches"`
	TimedBatches        *int     `json:"timed_batches"`
	CleanRepeats        *int     `json:"clean_repeats"`
	CPUThreadsPerWorker *int     `json:"cpu_threads_per_worker"`
	MinWindowS          *float64 `json:"min_window_s"`
	JPEGQuality         *int     `json:"jpeg_quality"`
	Decoder             *string  `json:"decoder"`
	Resize              *string  `json:"resize"`
	PatchEmbed          *string  `json:"patch_embed"`
	CUDNNBenchmark      *bool    `json:"cudnn_benchmark"`
}

// Ptr returns a pointer to v, for filling Settings.
func Ptr[T any](v T) *T { return &v }

// settingField maps a setting's JSON name to its field index.
var settingField = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[Settings]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		m[name] = i
	}
	return m
}()

// SettingKeys returns the JSON names of the Settings fields in order.
func SettingKeys() []string {
	t := reflect.TypeFor[Settings]()
	out := make([]string, t.NumField())
	for i := range out {
		out[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return out
}

// Get returns the value of a setting: int, float64, string or bool, or
// nil when it is not given. ok is false for a key Settings does not have.
func (s *Settings) Get(key string) (v any, ok bool) {
	i, ok := settingField[key]
	if !ok {
		return nil, false
	}
	f := reflect.ValueOf(s).Elem().Field(i)
	if f.IsNil() {
		return nil, true
	}
	return f.Elem().Interface(), true
}

// Set sets a setting from a value of its type (an int setting takes int,
// int64 or an integral float64; a float setting any number); nil clears it.
func (s *Settings) Set(key string, v any) error {
	i, ok := settingField[key]
	if !ok {
		return fmt.Errorf("batchdir: no setting %q", key)
	}
	f := reflect.ValueOf(s).Elem().Field(i)
	if v == nil {
		f.SetZero()
		return nil
	}
	switch f.Type().Elem().Kind() {
	case reflect.Int:
		var n int64
		switch x := v.(type) {
		case int:
			n = int64(x)
		case int64:
			n = x
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > math.MaxInt32 {
				return fmt.Errorf("batchdir: setting %s: %v is not an integer", key, x)
			}
			n = int64(x)
		default:
			return fmt.Errorf("batchdir: setting %s: %v (%T) is not an integer", key, v, v)
		}
		f.Set(reflect.ValueOf(Ptr(int(n))))
	case reflect.Float64:
		switch x := v.(type) {
		case float64:
			f.Set(reflect.ValueOf(Ptr(x)))
		case int64:
			f.Set(reflect.ValueOf(Ptr(float64(x))))
		case int:
			f.Set(reflect.ValueOf(Ptr(float64(x))))
		default:
			return fmt.Errorf("batchdir: setting %s: %v (%T) is not a number", key, v, v)
		}
	case reflect.String:
		x, ok := v.(string)
		if !ok {
			return fmt.Errorf("batchdir: setting %s: %v (%T) is not a string", key, v, v)
		}
		f.Set(reflect.ValueOf(Ptr(x)))
	case reflect.Bool:
		x, ok := v.(bool)
		if !ok {
			return fmt.Errorf("batchdir: setting %s: %v (%T) is not a boolean", key, v, v)
		}
		f.Set(reflect.ValueOf(Ptr(x)))
	}
	return nil
}

// SettingDiff is one setting where two Settings differ.
type SettingDiff struct {
	Key  string
	A, B any // Get values; nil when not given
}

func (d SettingDiff) String() string {
	return fmt.Sprintf("%s %s→%s", d.Key, valueText(d.A), valueText(d.B))
}

func valueText(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(v)
}

// DiffSettings lists the settings where a and b differ, in field order.
// With onlySetInA, settings a leaves nil are skipped (a is a request: what
// it leaves to the workload is no mismatch).
func DiffSettings(a, b Settings, onlySetInA bool) []SettingDiff {
	var out []SettingDiff
	for _, k := range SettingKeys() {
		va, _ := a.Get(k)
		vb, _ := b.Get(k)
		if onlySetInA && va == nil {
			continue
		}
		if va != vb {
			out = append(out, SettingDiff{Key: k, A: va, B: vb})
		}
	}
	return out
}
