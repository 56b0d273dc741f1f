package runner

// batch.go: the batch directory and batch.json — creating or resuming it
// (openBatch), joining it as a shard (joinBatch), the statuses of runs
// already there, and the small merging helpers (contains, mergeSoftware)
// that batch.json and run.json use.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"vitlab/collectors/batchdir"
)

// openBatch creates the batch directory (or, with Resume, checks and
// reopens it) and writes batch.json without finished.
func (r *runner) openBatch() (*batchdir.Batch, error) {
	planBytes, err := os.ReadFile(r.cfg.PlanFile)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	b := &batchdir.Batch{
		ID:            r.batchID,
		Plan:          r.x.Plan,
		PlanFile:      r.cfg.PlanFile,
		Profile:       r.x.Profile,
		Host:          r.host,
		VitlabVersion: r.cfg.Version,
		StartedAt:     r.cfg.Now().UTC(),
		GPUs:          r.gpus,
		NUMA:          r.topo,
		Software:      batchdir.Software{Nsys: r.nsysVer, Driver: r.gpu.Driver, OS: osText(r.cfg.SysRoot)},
		Runs:          len(r.runs),
		Labels:        r.x.Labels,
		Filter:        r.cfg.Only,
		Warnings:      r.warnings,
		Shards:        r.cfg.Shards,
		OrderSeed:     &r.x.OrderSeed,
		TraceRepeats:  r.x.TraceRepeats,
		NvidiaSMITopo: r.smiTopo,
	}
	if r.cfg.Shards == 0 {
		// One process runs them all here; shards add their own hosts.
		b.AddHost(r.host)
	}
	if b.GPUs == nil {
		b.GPUs = []batchdir.GPU{}
	}
	_, statErr := os.Stat(r.dir)
	exists := statErr == nil
	switch {
	case exists && !r.cfg.Resume:
		return nil, fmt.Errorf("runner: %s: %w", r.dir, ErrBatchExists)
	case !exists && r.cfg.Resume:
		return nil, fmt.Errorf("runner: --resume: no batch at %s", r.dir)
	case exists:
		old, err := batchdir.ReadBatch(r.dir)
		if err != nil {
			return nil, fmt.Errorf("runner: --resume: %w", err)
		}
		var problems []string
		if old.Plan != b.Plan || old.Profile != b.Profile {
			problems = append(problems, fmt.Sprintf("it is plan %s profile %s, not plan %s profile %s", old.Plan, old.Profile, b.Plan, b.Profile))
		}
		if old.Filter != b.Filter {
			problems = append(problems, fmt.Sprintf("it was collected with --only %q, not %q", old.Filter, b.Filter))
		}
		if old.OrderSeed != nil && *old.OrderSeed != r.x.OrderSeed {
			problems = append(problems, fmt.Sprintf("its runs were ordered with seed %d, not %d (give --order-seed %d)", *old.OrderSeed, r.x.OrderSeed, *old.OrderSeed))
		}
		if old.TraceRepeats != b.TraceRepeats {
			problems = append(problems, fmt.Sprintf("it traced %s, not %s (give --trace-repeats %d)",
				traceText(old.TraceRepeats), traceText(b.TraceRepeats), old.TraceRepeats))
		}
		if old.Host != b.Host {
			problems = append(problems, fmt.Sprintf("it was collected on host %s, this is %s", old.Host, b.Host))
		}
		if prev, err := os.ReadFile(filepath.Join(r.dir, PlanCopy)); err != nil || !bytes.Equal(prev, planBytes) {
			problems = append(problems, fmt.Sprintf("the plan file differs from the batch's copy %s", filepath.Join(r.dir, PlanCopy)))
		}
		if len(problems) > 0 {
			return nil, fmt.Errorf("runner: --resume %s: %s; start a new batch", r.batchID, strings.Join(problems, "; "))
		}
		b.StartedAt = old.StartedAt
		b.Software = mergeSoftware(b.Software, old.Software)
		b.Shards = old.Shards
		for _, h := range old.Hosts {
			b.AddHost(h)
		}
		for _, w := range old.Warnings {
			if !contains(b.Warnings, w) {
				b.Warnings = append(b.Warnings, w)
			}
		}
	default:
		if err := os.MkdirAll(filepath.Join(r.dir, batchdir.RunsDir), 0o755); err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
		if err := os.WriteFile(filepath.Join(r.dir, PlanCopy), planBytes, 0o644); err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
	}
	if err := writeJSON(filepath.Join(r.dir, batchdir.BatchFile), b); err != nil {
		return nil, err
	}
	return b, nil
}

// joinBatch opens a batch directory that Prepare created, for a shard: it
// checks that the plan and profile are the batch's and adds this host to
// batch.json's hosts (and its GPUs and warnings where batch.json has none),
// under the batch's lock.
func (r *runner) joinBatch() (*batchdir.Batch, error) {
	planBytes, err := os.ReadFile(r.cfg.PlanFile)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	if prev, err := os.ReadFile(filepath.Join(r.dir, PlanCopy)); err != nil || !bytes.Equal(prev, planBytes) {
		return nil, fmt.Errorf("runner: shard of %s: the plan file differs from the batch's copy %s", r.dir, filepath.Join(r.dir, PlanCopy))
	}
	var out *batchdir.Batch
	err = batchdir.Update(r.dir, func(b *batchdir.Batch) error {
		if b.Plan != r.x.Plan || b.Profile != r.x.Profile {
			return fmt.Errorf("runner: shard of %s: it is plan %s profile %s, not plan %s profile %s", r.dir, b.Plan, b.Profile, r.x.Plan, r.x.Profile)
		}
		if b.Filter != r.cfg.Only {
			return fmt.Errorf("runner: shard of %s: it was made with --only %q, not %q", r.dir, b.Filter, r.cfg.Only)
		}
		if b.OrderSeed != nil && *b.OrderSeed != r.x.OrderSeed {
			// Shards pick runs by their index in the order: another
			// order would run some runs twice and others never.
			return fmt.Errorf("runner: shard of %s: its runs are ordered with seed %d, not %d", r.dir, *b.OrderSeed, r.x.OrderSeed)
		}
		if b.TraceRepeats != r.x.TraceRepeats {
			return fmt.Errorf("runner: shard of %s: it traces %s, not %s", r.dir, traceText(b.TraceRepeats), traceText(r.x.TraceRepeats))
		}
		b.AddHost(r.host)
		if len(b.GPUs) == 0 && len(r.gpus) > 0 {
			b.GPUs = r.gpus
		}
		if len(b.NUMA.Nodes) == 0 {
			b.NUMA = r.topo
		}
		if b.NvidiaSMITopo == "" {
			b.NvidiaSMITopo = r.smiTopo
		}
		for _, w := range r.warnings {
			if contains(b.Warnings, w) {
				continue // the batch's creator said it already
			}
			if w = r.host + ": " + w; !contains(b.Warnings, w) {
				b.Warnings = append(b.Warnings, w)
			}
		}
		b.Software = mergeSoftware(b.Software, batchdir.Software{Nsys: r.nsysVer, Driver: r.gpu.Driver, OS: osText(r.cfg.SysRoot)})
		out = b
		return nil
	})
	return out, err
}

func (r *runner) existingStatuses() map[string]string {
	out := map[string]string{}
	for _, run := range r.runs {
		if rec, err := batchdir.ReadRun(r.runDir(run)); err == nil {
			out[run.ID] = rec.Status
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// mergeSoftware fills the empty fields of a from b.
func mergeSoftware(a, b batchdir.Software) batchdir.Software {
	fill := func(x *string, y string) {
		if *x == "" {
			*x = y
		}
	}
	fill(&a.Driver, b.Driver)
	fill(&a.CUDA, b.CUDA)
	fill(&a.Torch, b.Torch)
	fill(&a.Timm, b.Timm)
	fill(&a.Python, b.Python)
	fill(&a.Nsys, b.Nsys)
	fill(&a.OS, b.OS)
	return a
}

// traceText says which repeats a batch traces.
func traceText(n int) string {
	if n == 0 {
		return "every repeat"
	}
	if n == 1 {
		return "repeat 1 of each configuration"
	}
	return fmt.Sprintf("repeats 1-%d of each configuration", n)
}
