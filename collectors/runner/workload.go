package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"vitlab/collectors/batchdir"
)

// WorkloadScript is the workload's entry point inside the workload folder.
const WorkloadScript = "vit_workload.py"

// Files the runner writes in a run directory besides batchdir's.
const (
	RequestFile = "request.json"
	PlanCopy    = "plan.yaml" // in the batch directory
)

// Phases of a run.
const (
	PhaseClean  = "clean"
	PhaseTraced = "traced"
)

// ResultFile is the workload's result file name for a phase.
func ResultFile(phase string) string { return "result." + phase + ".json" }

// Request is request.json: what the workload is asked to run.
type Request struct {
	RunID    string            `json:"run_id"`
	Settings batchdir.Settings `json:"settings"`
}

// Result is result.<phase>.json as the workload writes it.
type Result struct {
	Phase     string             `json:"phase"`
	OK        bool               `json:"ok"`
	Error     string             `json:"error,omitempty"`
	Effective *batchdir.Settings `json:"effective,omitempty"`
	Timings   batchdir.Timings   `json:"timings"`
	Software  ResultSoftware     `json:"software"`
	GPU       ResultGPU          `json:"gpu"`
	// Windows are the clean phase's measurement windows (contract §2).
	Windows []batchdir.Window `json:"windows,omitempty"`
	Details ResultDetails     `json:"details"`
}

// ResultDetails are the parts of the workload's free-form details the
// runner records.
type ResultDetails struct {
	// CPUsAllowed is len(os.sched_getaffinity(0)) in the workload.
	CPUsAllowed *int `json:"cpus_allowed"`
	// TracedWindow is the traced phase's timed window (one entry).
	TracedWindow []batchdir.Window `json:"traced_window"`
}

// ResultSoftware are the versions the workload saw.
type ResultSoftware struct {
	Torch  string `json:"torch,omitempty"`
	CUDA   string `json:"cuda,omitempty"`
	Timm   string `json:"timm,omitempty"`
	Python string `json:"python,omitempty"`
	Driver string `json:"driver,omitempty"`
}

// ResultGPU is the GPU the workload ran on, as torch saw it.
type ResultGPU struct {
	Index int    `json:"index"`
	Name  string `json:"name,omitempty"`
	UUID  string `json:"uuid,omitempty"`
}

// readResult reads and checks a phase's result. A missing file is
// os.ErrNotExist; a result that breaks the contract is an error saying how.
func readResult(path, phase string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if r.Phase != phase {
		return &r, fmt.Errorf("%s: phase is %q, want %q", filepath.Base(path), r.Phase, phase)
	}
	if !r.OK {
		return &r, nil
	}
	var missing []string
	if r.Effective == nil {
		missing = append(missing, "effective")
	}
	t := r.Timings
	switch phase {
	case PhaseClean:
		if t.CleanThroughput == nil || *t.CleanThroughput <= 0 {
			missing = append(missing, "timings.clean_throughput")
		}
		if len(t.CleanThroughputRuns) == 0 {
			missing = append(missing, "timings.clean_throughput_runs")
		}
	case PhaseTraced:
		if t.TracedThroughput == nil || *t.TracedThroughput <= 0 {
			missing = append(missing, "timings.traced_throughput")
		}
		if t.TimedImages <= 0 {
			missing = append(missing, "timings.timed_images")
		}
	}
	if len(missing) > 0 {
		return &r, fmt.Errorf("%s says ok but lacks %s", filepath.Base(path), strings.Join(missing, ", "))
	}
	return &r, nil
}

// mergeTimings takes from each phase the timings the contract gives it:
// the clean phase's untraced measurements, the traced phase's throughput
// and image count.
func mergeTimings(clean, traced *Result) batchdir.Timings {
	var t batchdir.Timings
	if clean != nil {
		c := clean.Timings
		t.CompileS = c.CompileS
		t.CleanThroughput = c.CleanThroughput
		t.CleanThroughputRuns = c.CleanThroughputRuns
		t.CleanLatencyP50Ms = c.CleanLatencyP50Ms
		t.CleanLatencyP90Ms = c.CleanLatencyP90Ms
		t.CleanLatencyP99Ms = c.CleanLatencyP99Ms
		t.PeakMemBytes = c.PeakMemBytes
		t.ForwardBoundImgS = c.ForwardBoundImgS
		t.PrepBoundImgS = c.PrepBoundImgS
	}
	if traced != nil {
		t.TracedThroughput = traced.Timings.TracedThroughput
		t.TimedImages = traced.Timings.TimedImages
	}
	return t
}

// settingsDiff lists the settings where a and b differ, as "name a→b".
// With onlySetInA, settings a leaves unset are skipped (a is the request:
// what it leaves to the workload is no mismatch).
func settingsDiff(a, b batchdir.Settings, onlySetInA bool) []string {
	var out []string
	for _, d := range batchdir.DiffSettings(a, b, onlySetInA) {
		out = append(out, d.String())
	}
	return out
}

// fieldNames returns the field names of diff entries ("compile_mode a→b" →
// "compile_mode").
func fieldNames(diff []string) []string {
	out := make([]string, len(diff))
	for i, d := range diff {
		out[i], _, _ = strings.Cut(d, " ")
	}
	return out
}

// FindWorkload looks for collectors/workload/vit_workload.py in each start
// folder and the folders above it, and returns the workload folder.
func FindWorkload(starts ...string) (string, error) {
	var tried []string
	for _, s := range starts {
		if s == "" {
			continue
		}
		dir, err := filepath.Abs(s)
		if err != nil {
			continue
		}
		for {
			cand := filepath.Join(dir, "collectors", "workload")
			if st, err := os.Stat(filepath.Join(cand, WorkloadScript)); err == nil && st.Mode().IsRegular() {
				return cand, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
		tried = append(tried, s)
	}
	return "", fmt.Errorf("runner: no collectors/workload/%s above %s: %w (give --workload DIR)",
		WorkloadScript, strings.Join(tried, " or "), errNoWorkload)
}

var errNoWorkload = errors.New("workload not found")

// writeJSON writes v atomically with batchdir.WriteJSON and makes the file
// readable by all, like the rest of the batch (the temporary file it is
// renamed from is private).
func writeJSON(path string, v any) error {
	if err := batchdir.WriteJSON(path, v); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o644); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	return nil
}
