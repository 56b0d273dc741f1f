package batchdir

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestReadSamplesReasons: nvml.jsonl lines with and without the clocks event
// reasons (batches collected before they were recorded have none), and a GPU
// inventory with and without the enforced power limit.
func TestReadSamplesReasons(t *testing.T) {
	in := `{"unix_ns":1,"gpu":0,"sm_clock_mhz":1980,"power_w":312.5,"phase":"clean"}
{"unix_ns":2,"gpu":0,"sm_clock_mhz":1755,"power_w":697.1,"phase":"clean","clocks_event_reasons":4}
{"unix_ns":3,"gpu":0,"sm_clock_mhz":1980,"power_w":80,"phase":"clean","clocks_event_reasons":0}
{"unix_ns":4,"gpu":0,"sm_clock_mhz":1400,"power_w":500,"clocks_event_reasons":18446744073709551615}
`
	got, err := ReadSamples(strings.NewReader(in), "nvml.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d samples", len(got))
	}
	if got[0].ClocksEventReasons != nil {
		t.Errorf("sample without the field: reasons %d, want nil", *got[0].ClocksEventReasons)
	}
	for i, want := range map[int]uint64{1: 4, 2: 0, 3: ^uint64(0)} {
		if r := got[i].ClocksEventReasons; r == nil || *r != want {
			t.Errorf("sample %d: reasons %v, want %d", i, r, want)
		}
	}
	if _, err := ReadSamples(strings.NewReader(`{"unix_ns":1,"gpu":0,"clocks_event_reasons":-1}`), "x"); err == nil {
		t.Error("a negative bitmask was accepted")
	}

	var g []GPU
	if err := json.Unmarshal([]byte(`[{"index":0,"name":"H100"},{"index":1,"name":"H100","enforced_power_limit_mw":700000}]`), &g); err != nil {
		t.Fatal(err)
	}
	if g[0].PowerLimitMW != nil || g[1].PowerLimitMW == nil || *g[1].PowerLimitMW != 700000 {
		t.Errorf("power limits %v %v", g[0].PowerLimitMW, g[1].PowerLimitMW)
	}
	b, _ := json.Marshal(g[0])
	if strings.Contains(string(b), "power_limit") {
		t.Errorf("an unknown limit is written: %s", b)
	}
}
