package schemas

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSettingsRegistry checks the embedded settings.json: it parses, every
// setting is well-formed, and it holds the keys the contract names.
func TestSettingsRegistry(t *testing.T) {
	got, err := ParseSettings(settingsJSON)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"model", "patch", "depth", "hidden", "heads", "mlp", "resolution", "source_resolution",
		"batch_size", "dtype", "compile_mode", "pipeline", "queue_depth", "preprocess", "cpu_workers",
		"warmup_batches", "timed_batches", "clean_repeats",
		"cpu_threads_per_worker", "min_window_s", "jpeg_quality", "decoder", "resize", "patch_embed",
		"cudnn_benchmark",
	}
	if strings.Join(SettingKeys(), ",") != strings.Join(want, ",") {
		t.Errorf("keys:\n got %v\nwant %v", SettingKeys(), want)
	}
	for _, s := range got {
		if s.Default != nil {
			if err := s.Check(s.Default); err != nil {
				t.Errorf("%s: default %v: %v", s.Key, s.Default, err)
			}
		}
		if s.Since == Version && !strings.Contains(s.Doc, " ") {
			t.Errorf("%s: doc too short", s.Key)
		}
	}
	// The file is plain JSON any reader (the Python workload) can load.
	var plain []map[string]any
	if err := json.Unmarshal(SettingsJSON(), &plain); err != nil || len(plain) != len(got) {
		t.Fatalf("plain JSON: %v (%d entries)", err, len(plain))
	}
	for _, m := range plain {
		for _, k := range []string{"key", "type", "default", "doc", "since"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%v has no %q", m["key"], k)
			}
		}
	}
	if s, ok := SettingByKey("min_window_s"); !ok || s.Type != TypeFloat || s.Default != 2.0 || s.Unit != "s" {
		t.Errorf("min_window_s = %+v", s)
	}
	if s, _ := SettingByKey("cpu_workers"); s.Default != nil || s.Check(int64(0)) != nil {
		t.Errorf("cpu_workers: default %v, 0 must be a value", s.Default)
	}
	if s, _ := SettingByKey("heads"); s.Plannable() {
		t.Error("heads must not be plannable")
	}
}

func TestSettingCheck(t *testing.T) {
	q, _ := SettingByKey("queue_depth")
	dec, _ := SettingByKey("decoder")
	jq, _ := SettingByKey("jpeg_quality")
	mw, _ := SettingByKey("min_window_s")
	cb, _ := SettingByKey("cudnn_benchmark")
	cases := []struct {
		s    Setting
		v    any
		want string // "" for no error
	}{
		{q, int64(4), ""},
		{q, int64(3), ""},
		{q, int64(65), "must be at most 64"},
		{q, int64(0), "must be at least 1"},
		{q, "4", "must be an integer"},
		{q, 2.5, "must be an integer"},
		{q, float64(8), ""},
		{dec, "nvjpeg", ""},
		{dec, "libjpeg", `"libjpeg" is not one of pil, torchvision-cpu, nvjpeg`},
		{dec, int64(1), "must be a string"},
		{jq, int64(0), "must be at least 1"},
		{jq, int64(101), "must be at most 100"},
		{jq, int64(1) << 40, "too large"},
		{mw, int64(0), ""},
		{mw, 0.5, ""},
		{mw, -1.0, "must be at least 0"},
		{cb, false, ""},
		{cb, "yes", "must be true or false"},
	}
	for _, c := range cases {
		err := c.s.Check(c.v)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %v: %v", c.s.Key, c.v, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %v: got %v, want %q", c.s.Key, c.v, err, c.want)
		}
	}
}

func TestParseSettingsErrors(t *testing.T) {
	cases := map[string]string{
		`{}`: "cannot unmarshal",
		`[{"key":"a","type":"int","default":1,"doc":"d","since":1,"extra":1}]`:                                                "unknown field",
		`[{"key":"A","type":"int","default":1,"doc":"d","since":1}]`:                                                          "key must be",
		`[{"key":"a","type":"int","default":1,"doc":"d","since":1},{"key":"a","type":"int","default":1,"doc":"d","since":1}]`: "duplicate",
		`[{"key":"a","type":"long","default":1,"doc":"d","since":1}]`:                                                         "type",
		`[{"key":"a","type":"int","default":1,"doc":"","since":1}]`:                                                           "no doc",
		`[{"key":"a","type":"int","default":1,"doc":"d","since":99}]`:                                                         "since 99",
		`[{"key":"a","type":"int","default":1,"doc":"d","since":1,"phase":"traced"}]`:                                         "phase \"traced\"",
		`[{"key":"a","type":"int","doc":"d","since":1}]`:                                                                      "no default",
		`[{"key":"a","type":"int","default":"x","doc":"d","since":1}]`:                                                        "not an int",
		`[{"key":"a","type":"int","default":3,"choices":[1,2],"doc":"d","since":1}]`:                                          "must be one of",
		`[{"key":"a","type":"string","default":"x","choices":["x",1],"doc":"d","since":1}]`:                                   "choice 1",
		`[{"key":"a","type":"string","default":"x","min":1,"doc":"d","since":1}]`:                                             "min and max",
		`[{"key":"a","type":"bool","default":1,"doc":"d","since":1}]`:                                                         "not a bool",
	}
	for in, want := range cases {
		if _, err := ParseSettings([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", in, err, want)
		}
	}
}
