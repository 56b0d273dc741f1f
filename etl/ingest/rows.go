package ingest

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/collectors/batchdir"
	"vitlab/etl/normalize"
	"vitlab/schemas"
)

// row is one row of a small table (runs, batches) by column name; a
// missing column is null.
type row map[string]any

// buildRecord turns rows into one record of table t. Values are string,
// int, int32, int64, float64, bool or time.Time; nil or absent is null, which a
// non-nullable column refuses.
func buildRecord(mem memory.Allocator, t *schemas.Table, rows []row) (arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(mem, t.Schema())
	defer b.Release()
	for ri, r := range rows {
		for name := range r {
			if t.Index(name) < 0 {
				return nil, fmt.Errorf("ingest: table %s has no column %s", t.Name, name)
			}
		}
		for i, c := range t.Columns {
			if err := appendValue(b.Field(i), c, r[c.Name]); err != nil {
				return nil, fmt.Errorf("ingest: %s row %d: column %s: %w", t.Name, ri, c.Name, err)
			}
		}
	}
	return b.NewRecordBatch(), nil
}

func appendValue(fb array.Builder, c schemas.Column, v any) error {
	if v == nil {
		if !c.Nullable {
			return fmt.Errorf("null in a non-null column")
		}
		fb.AppendNull()
		return nil
	}
	switch fb := fb.(type) {
	case *array.StringBuilder:
		if s, ok := v.(string); ok {
			fb.Append(s)
			return nil
		}
	case *array.Int32Builder:
		switch n := v.(type) {
		case int32:
			fb.Append(n)
			return nil
		case int:
			if int(int32(n)) != n {
				return fmt.Errorf("%d does not fit int32", n)
			}
			fb.Append(int32(n))
			return nil
		}
	case *array.Int64Builder:
		switch n := v.(type) {
		case int64:
			fb.Append(n)
			return nil
		case int:
			fb.Append(int64(n))
			return nil
		}
	case *array.Float64Builder:
		if f, ok := v.(float64); ok {
			fb.Append(f)
			return nil
		}
	case *array.BooleanBuilder:
		if x, ok := v.(bool); ok {
			fb.Append(x)
			return nil
		}
	case *array.TimestampBuilder:
		if ts, ok := v.(time.Time); ok {
			fb.Append(arrow.Timestamp(ts.UTC().UnixMicro()))
			return nil
		}
	}
	return fmt.Errorf("value %v of type %T does not fit %s", v, v, c.Type)
}

// Helpers that map "not recorded" zero values to null.

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nonZero32(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

func int64Ptr(n *int64) any {
	if n == nil {
		return nil
	}
	return *n
}

func nonZero64(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}

func floatPtr(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func intPtr(n *int) any {
	if n == nil {
		return nil
	}
	return *n
}

func timeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func jsonOrNull(v any) any {
	if v == nil || reflect.ValueOf(v).IsZero() {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return string(b)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// loaded is what loading one run produced.
type loaded struct {
	in         *RunInput
	result     normalize.Result
	rows       map[string]int64 // per table, as staged
	samples    int64
	exportHash fileHash
}

// RecordOnlyWarning is the runs.warnings line of a run ingested without
// its export (Request.RunsOnly).
const RecordOnlyWarning = "run record only: ingested without its export (vitlab ingest --runs-only): no events or traced metrics"

// UntracedWarning is the runs.warnings line of a run the collector did
// not trace by design (its repeat beyond the batch's trace_repeats).
const UntracedWarning = "untraced by design: repeat beyond the batch's trace_repeats, clean phase only (no events or traced metrics)"

// runRow builds the runs row of a run that loaded (ld.result set) or that
// the collector recorded as failed (ld.result zero).
func runRow(batchID string, b *batchdir.Batch, ld *loaded, labels Labels) row {
	in := ld.in
	r := row{
		"batch_id":    batchID,
		"run_id":      in.RunID,
		"status":      batchdir.StatusOK,
		"kernels":     ld.rows[schemas.Kernels.Name],
		"memcpys":     ld.rows[schemas.Memcpys.Name],
		"memsets":     ld.rows[schemas.Memsets.Name],
		"cuda_api":    ld.rows[schemas.CudaAPI.Name],
		"nvtx":        ld.rows[schemas.NVTX.Name],
		"gpu_samples": ld.samples,
	}
	r["run_content_sha256"] = nonEmpty(in.ContentSHA256)
	if in.Load() {
		info := ld.result.Info
		r["source_file"] = in.ExportRel
		r["export_sha256"] = nonEmpty(ld.exportHash.SHA256)
		r["export_bytes"] = nonZero64(info.SQLiteBytes)
		r["session_start_utc_ns"] = nonZero64(info.SessionStartUTCNs)
		r["nsys_version"] = nonEmpty(info.NsysVersion)
		r["export_schema"] = nonEmpty(info.ExportSchema)
		if len(ld.result.Warnings) > 0 {
			r["warnings"] = strings.Join(ld.result.Warnings, "\n")
		}
	}
	// Labels: batch.json's, then run.json's, then the command line's.
	runLabels := map[string]string{}
	if b != nil {
		maps.Copy(runLabels, b.Labels)
	}
	if run := in.Run; run != nil {
		collectorRun(r, b, run)
		maps.Copy(runLabels, run.Labels)
		if in.RecordOnly {
			w := RecordOnlyWarning
			if run.Untraced {
				w = UntracedWarning
			}
			if lw, ok := r["warnings"].(string); ok {
				w = lw + "\n" + w
			}
			r["warnings"] = w
		}
	}
	for k, v := range labels.columns {
		r[k] = v
	}
	if all := labels.merged(runLabels); len(all) > 0 {
		r["labels"] = jsonObject(all)
	}
	return r
}

// collectorRun fills r from run.json: settings from effective only (never
// from names), placement, GPU, software (falling back to batch.json's),
// timings, times; the collector's warnings come before the loader's.
func collectorRun(r row, b *batchdir.Batch, run *batchdir.Run) {
	r["rq"] = nonEmpty(run.RQ)
	r["name"] = nonEmpty(run.Name)
	r["repeat"] = nonZero32(run.Repeat)
	r["status"] = firstNonEmpty(run.Status, "unknown")
	r["error"] = nonEmpty(run.Error)
	if e := run.Effective; e != nil {
		settingsInto(r, e)
		// The collector's own list when it wrote one, else computed here.
		if len(run.Mismatch) > 0 {
			r["mismatch"] = strings.Join(run.Mismatch, ",")
		} else {
			r["mismatch"] = mismatch(run.Requested, *e)
		}
	}
	if c := run.CPUs; c != nil {
		switch {
		case c.WorkloadAllowed != nil:
			r["cpus_allowed"] = *c.WorkloadAllowed
		case c.Count > 0:
			r["cpus_allowed"] = c.Count
		}
	}
	r["host"] = nonEmpty(run.Host)
	r["requested"] = jsonOrNull(run.Requested)
	r["numa_cpu"] = nonEmpty(run.NUMA.CPUNodes)
	r["numa_mem"] = nonEmpty(run.NUMA.MemNodes)
	if run.NUMA.GPUNode != nil {
		r["gpu_numa"] = *run.NUMA.GPUNode
	} else {
		r["gpu_numa"] = intPtr(run.GPU.NUMANode)
	}
	r["numa_placement"] = nonEmpty(run.NUMA.Placement)
	if run.GPU.Name != "" || run.GPU.UUID != "" {
		r["gpu_index"] = run.GPU.Index
	}
	r["gpu_name"] = nonEmpty(run.GPU.Name)
	r["gpu_uuid"] = nonEmpty(run.GPU.UUID)
	if mw := run.GPU.PowerLimitMW; mw != nil && *mw > 0 {
		r["gpu_power_limit_w"] = float64(*mw) / 1000 // mW → W
	}
	var bs batchdir.Software
	if b != nil {
		bs = b.Software
	}
	r["driver"] = nonEmpty(firstNonEmpty(run.Software.Driver, run.GPU.Driver, bs.Driver))
	r["cuda"] = nonEmpty(firstNonEmpty(run.Software.CUDA, bs.CUDA))
	r["torch"] = nonEmpty(firstNonEmpty(run.Software.Torch, bs.Torch))
	r["timm"] = nonEmpty(firstNonEmpty(run.Software.Timm, bs.Timm))
	if r["nsys_version"] == nil {
		r["nsys_version"] = nonEmpty(firstNonEmpty(run.Software.Nsys, bs.Nsys))
	}
	t := run.Timings
	r["timed_images"] = nonZero64(t.TimedImages)
	r["traced_throughput"] = floatPtr(t.TracedThroughput)
	r["clean_throughput"] = floatPtr(t.CleanThroughput)
	r["clean_throughput_runs"] = jsonOrNull(t.CleanThroughputRuns)
	r["clean_latency_p50_ms"] = floatPtr(t.CleanLatencyP50Ms)
	r["clean_latency_p90_ms"] = floatPtr(t.CleanLatencyP90Ms)
	r["clean_latency_p99_ms"] = floatPtr(t.CleanLatencyP99Ms)
	r["compile_s"] = floatPtr(t.CompileS)
	r["peak_mem_bytes"] = nonZero64(t.PeakMemBytes)
	r["forward_bound_img_s"] = floatPtr(t.ForwardBoundImgS)
	r["prep_bound_img_s"] = floatPtr(t.PrepBoundImgS)
	if r["export_bytes"] == nil {
		r["export_bytes"] = nonZero64(run.ExportBytes)
	}
	if len(run.Warnings) > 0 {
		w := strings.Join(run.Warnings, "\n")
		if lw, ok := r["warnings"].(string); ok {
			w += "\n" + lw
		}
		r["warnings"] = w
	}
	r["started_at"] = timeOrNull(run.StartedAt)
	if run.FinishedAt != nil {
		r["finished_at"] = *run.FinishedAt
	}
}

// settingsInto sets the runs column of every registry setting from the
// effective settings: nil is null, a zero is a value.
func settingsInto(r row, e *batchdir.Settings) {
	for _, st := range schemas.Settings() {
		v, _ := e.Get(st.Key)
		r[st.Key] = v
	}
}

// mismatch lists the settings (by their run.json names) that the plan
// requested and the workload did differently; null when none.
func mismatch(req, eff batchdir.Settings) any {
	var diff []string
	for _, d := range batchdir.DiffSettings(req, eff, true) {
		diff = append(diff, d.Key)
	}
	if len(diff) == 0 {
		return nil
	}
	return strings.Join(diff, ",")
}

// windowRows are the clean_windows rows of a run: one per window of
// run.json; none for batches before schema version 3.
func windowRows(batchID, runID string, run *batchdir.Run) []row {
	if run == nil {
		return nil
	}
	var out []row
	for _, w := range run.Windows {
		r := row{
			"batch_id":       batchID,
			"run_id":         runID,
			"window":         w.Index,
			"start_unix_ns":  w.StartUnixNs,
			"end_unix_ns":    w.EndUnixNs,
			"duration_ns":    w.EndUnixNs - w.StartUnixNs,
			"batches":        intPtr(w.Batches),
			"images":         int64Ptr(w.Images),
			"throughput":     floatPtr(w.Throughput),
			"latency_p50_ms": floatPtr(w.LatencyP50Ms),
			"latency_p90_ms": floatPtr(w.LatencyP90Ms),
			"latency_p99_ms": floatPtr(w.LatencyP99Ms),
		}
		if w.EnergyMJ != nil {
			r["energy_j"] = float64(*w.EnergyMJ) / 1000
		}
		out = append(out, r)
	}
	return out
}

// batchRow builds the batches row.
func batchRow(batchID, source, contentSHA, ingestVersion string, b *batchdir.Batch, hosts []string,
	labels Labels, runs, failed int, now time.Time) row {
	r := row{
		"batch_id":       batchID,
		"source":         source,
		"ingested_at":    now,
		"ingest_version": ingestVersion,
		"content_sha256": contentSHA,
		"runs":           int64(runs),
		"failed_inputs":  int64(failed),
	}
	var batchLabels map[string]string
	if b != nil {
		r["plan"] = nonEmpty(b.Plan)
		r["profile"] = nonEmpty(b.Profile)
		r["host"] = nonEmpty(b.Host)
		r["started_at"] = timeOrNull(b.StartedAt)
		if b.Finished != nil {
			r["finished_at"] = *b.Finished
		}
		r["vitlab_version"] = nonEmpty(b.VitlabVersion)
		r["gpus"] = jsonOrNull(b.GPUs)
		if len(b.NUMA.Nodes) > 0 {
			r["numa_nodes"] = len(b.NUMA.Nodes)
		}
		r["numa_topology"] = jsonOrNull(b.NUMA)
		r["software"] = jsonOrNull(b.Software)
		r["filter"] = nonEmpty(b.Filter)
		if len(b.Warnings) > 0 {
			r["warnings"] = strings.Join(b.Warnings, "\n")
		}
		r["hosts"] = jsonOrNull(b.Hosts)
		batchLabels = b.Labels
	} else {
		r["vitlab_version"] = ingestVersion
		// The host of bare exports is the one they all name, if they agree.
		sort.Strings(hosts)
		if len(hosts) > 0 && hosts[0] != "" && hosts[0] == hosts[len(hosts)-1] {
			r["host"] = hosts[0]
		}
	}
	if all := labels.merged(batchLabels); len(all) > 0 {
		r["labels"] = jsonObject(all)
	}
	return r
}

// samplesRecord builds the gpu_samples rows of one run. t is relative to
// the export's session start, null when the export does not record it.
func samplesRecord(mem memory.Allocator, batchID, runID string, samples []batchdir.Sample, sessionStart int64) arrow.RecordBatch {
	t := schemas.GPUSamples
	b := array.NewRecordBuilder(mem, t.Schema())
	defer b.Release()
	b.Reserve(len(samples))
	str := func(col string) *array.StringBuilder { return b.Field(t.MustIndex(col)).(*array.StringBuilder) }
	i32 := func(col string) *array.Int32Builder { return b.Field(t.MustIndex(col)).(*array.Int32Builder) }
	i64 := func(col string) *array.Int64Builder { return b.Field(t.MustIndex(col)).(*array.Int64Builder) }
	opt32 := func(col string, v *int) {
		if v == nil {
			i32(col).AppendNull()
		} else {
			i32(col).Append(int32(*v))
		}
	}
	for _, s := range samples {
		str("batch_id").Append(batchID)
		str("run_id").Append(runID)
		if sessionStart != 0 {
			i64("t").Append(s.UnixNs - sessionStart)
		} else {
			i64("t").AppendNull()
		}
		i64("unix_ns").Append(s.UnixNs)
		i32("gpu_index").Append(int32(s.GPU))
		opt32("sm_clock_mhz", s.SMClockMHz)
		opt32("mem_clock_mhz", s.MemClockMHz)
		if s.PowerW == nil {
			b.Field(t.MustIndex("power_w")).AppendNull()
		} else {
			b.Field(t.MustIndex("power_w")).(*array.Float64Builder).Append(*s.PowerW)
		}
		opt32("temp_c", s.TempC)
		opt32("util_gpu_pct", s.UtilGPU)
		opt32("util_mem_pct", s.UtilMem)
		if s.MemUsed == nil {
			i64("mem_used_bytes").AppendNull()
		} else {
			i64("mem_used_bytes").Append(*s.MemUsed)
		}
		if s.Phase == "" {
			str("phase").AppendNull()
		} else {
			str("phase").Append(s.Phase)
		}
		if s.EnergyMJ == nil {
			i64("energy_mj").AppendNull()
		} else {
			i64("energy_mj").Append(*s.EnergyMJ)
		}
		if s.ClocksEventReasons == nil {
			i64("clocks_event_reasons").AppendNull()
		} else {
			i64("clocks_event_reasons").Append(int64(*s.ClocksEventReasons)) // the bitmask's bits, as stored by NVML
		}
		if s.CPUCanaryNs == nil {
			i64("cpu_canary_ns").AppendNull()
		} else {
			i64("cpu_canary_ns").Append(*s.CPUCanaryNs)
		}
	}
	return b.NewRecordBatch()
}
