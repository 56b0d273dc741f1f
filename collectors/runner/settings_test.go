package runner

import (
	"encoding/json"
	"maps"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/plan"
	"vitlab/schemas"
)

// TestSettingsAgree checks that every stage names the same settings as the
// registry schemas/settings.json, with the same types: the plan's keys,
// batchdir.Settings (request.json and run.json), the workload's
// SETTING_KEYS (read by Python from the same file) and the runs table.
// Zero is a value all the way: 0 survives a JSON round trip, absence is null.
func TestSettingsAgree(t *testing.T) {
	reg := schemas.Settings()
	keys := schemas.SettingKeys()

	// batchdir.Settings: same keys, same order, Go types of the registry types.
	if got := batchdir.SettingKeys(); !slices.Equal(got, keys) {
		t.Errorf("batchdir.Settings keys\n got %v\nwant %v", got, keys)
	}
	st := reflect.TypeFor[batchdir.Settings]()
	kinds := map[string]reflect.Kind{schemas.TypeInt: reflect.Int, schemas.TypeFloat: reflect.Float64,
		schemas.TypeString: reflect.String, schemas.TypeBool: reflect.Bool}
	for i, s := range reg {
		if i >= st.NumField() {
			break
		}
		f := st.Field(i)
		if f.Type.Kind() != reflect.Pointer || f.Type.Elem().Kind() != kinds[s.Type] || strings.Contains(f.Tag.Get("json"), "omitempty") {
			t.Errorf("batchdir.Settings.%s is %s %q, want *%s without omitempty", f.Name, f.Type, f.Tag.Get("json"), kinds[s.Type])
		}
	}

	// request.json / run.json: every key present; null when absent, 0 kept.
	var s batchdir.Settings
	s.CPUWorkers, s.WarmupBatches, s.MinWindowS = batchdir.Ptr(0), batchdir.Ptr(0), batchdir.Ptr(0.0)
	s.CUDNNBenchmark = batchdir.Ptr(false)
	b, err := json.Marshal(Request{RunID: "x", Settings: s})
	if err != nil {
		t.Fatal(err)
	}
	var req struct{ Settings map[string]any }
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(req.Settings)); !slices.Equal(got, slices.Sorted(slices.Values(keys))) {
		t.Errorf("request.json settings keys %v", got)
	}
	if req.Settings["cpu_workers"] != 0.0 || req.Settings["warmup_batches"] != 0.0 || req.Settings["cudnn_benchmark"] != false ||
		req.Settings["min_window_s"] != 0.0 || req.Settings["patch"] != nil {
		t.Errorf("request.json settings %v", req.Settings)
	}
	var back batchdir.Settings
	if err := json.Unmarshal(b[strings.Index(string(b), `"settings":`)+len(`"settings":`):len(b)-1], &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("run.json round trip: %+v", back)
	}

	// The plan: every setting a plan may set is a plan key; derived ones are not.
	pl, err := plan.Parse("p.yaml", []byte("name: p\ndefaults: {patch: 16, depth: 1, hidden: 64, resolution: 32, batch_size: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := pl.Expand("full")
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range reg {
		v, _ := x.Runs[0].Settings.Get(set.Key)
		switch {
		case set.Plannable() && set.Default != nil && v == nil:
			t.Errorf("plan: %s has default %v but the request leaves it null", set.Key, set.Default)
		case set.Default != nil && v != nil && set.Type != schemas.TypeInt && v != set.Default:
			t.Errorf("plan: %s = %v, registry default %v", set.Key, v, set.Default)
		}
	}

	// The workload reads the same registry.
	if py, err := exec.LookPath("python3"); err == nil {
		cmd := exec.Command(py, "-c", "import json, vit_settings; print(json.dumps(list(vit_settings.SETTING_KEYS)))")
		cmd.Dir = filepath.Join("..", "workload")
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("workload SETTING_KEYS: %v", err)
		} else {
			var wk []string
			if err := json.Unmarshal(out, &wk); err != nil || !slices.Equal(wk, keys) {
				t.Errorf("workload SETTING_KEYS %s, want %v (%v)", out, keys, err)
			}
		}
	} else {
		t.Log("no python3: the workload's keys are not checked")
	}

	// The runs table: one column per setting, of the registry's type, nullable.
	for _, set := range reg {
		i := schemas.Runs.Index(set.Key)
		if i < 0 {
			t.Errorf("runs has no column %s", set.Key)
			continue
		}
		c := schemas.Runs.Columns[i]
		if !arrow.TypeEqual(c.Type, set.ArrowType()) || !c.Nullable {
			t.Errorf("runs.%s is %s (nullable %v), want nullable %s", set.Key, c.Type, c.Nullable, set.ArrowType())
		}
	}
}
