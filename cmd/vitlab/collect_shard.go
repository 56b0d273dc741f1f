package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/runner"
	"vitlab/collectors/slurm"
)

// shardFlags are collect's flags for batches split into shards: on several
// GPUs of this host (--gpus), as a Slurm job array (--slurm), one shard of
// an existing batch (--batch-dir --shard), and the batch's status and
// finalisation.
type shardFlags struct {
	gpus                      string
	slurm                     bool
	partition, account, time  string
	gpusPerTask, maxParallel  int
	runsPerTask               int
	status, finalize          string
	batchDir                  string
	shard, of                 int
	gpuList                   []int
	resumeBatch               *batchdir.Batch // the batch of --batch-dir
	planFromDir, profileOfDir string
}

// fromBatchDir fills --plan, --profile, --out and --batch from an existing
// batch directory (its plan.yaml copy and batch.json).
func (sh *shardFlags) fromBatchDir(fs *flag.FlagSet, planFile, profile, out, batchID *string, resume *bool) error {
	if *planFile != "" || *batchID != "" {
		return usagef("--batch-dir takes the plan, profile and batch id from the batch directory: leave out --plan and --batch")
	}
	if sh.shard < 0 && !*resume {
		return usagef("--batch-dir needs --shard I --of N, or --resume")
	}
	if sh.shard >= 0 && (sh.of < 1 || sh.shard >= sh.of) {
		return usagef("--shard %d --of %d: want 0 ≤ I < N", sh.shard, sh.of)
	}
	dir, err := filepath.Abs(sh.batchDir)
	if err != nil {
		return err
	}
	b, err := batchdir.ReadBatch(dir)
	if err != nil {
		return usagef("--batch-dir %s: %v", sh.batchDir, err)
	}
	sh.batchDir = dir
	sh.resumeBatch = b
	*planFile = filepath.Join(dir, runner.PlanCopy)
	*profile = b.Profile
	*out = filepath.Dir(dir)
	*batchID = filepath.Base(dir)
	*resume = false // a joined batch keeps its ok runs anyway
	if only := fs.Lookup("only"); only != nil && only.Value.String() == "" && b.Filter != "" {
		only.Value.Set(b.Filter)
	}
	if seed := fs.Lookup("order-seed"); seed != nil && seed.Value.String() == "-1" && b.OrderSeed != nil {
		seed.Value.Set(strconv.FormatInt(*b.OrderSeed, 10))
	}
	return nil
}

// check says what is wrong with the shard flags.
func (sh *shardFlags) check(gpu int) error {
	if sh.batchDir == "" && (sh.shard >= 0 || sh.of != 0) {
		return usagef("--shard and --of need --batch-dir")
	}
	if sh.gpus != "" {
		if sh.slurm || sh.batchDir != "" {
			return usagef("--gpus runs shards on this host: not with --slurm or --batch-dir")
		}
		for _, f := range strings.Split(sh.gpus, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				return usagef("--gpus %q: want NVML indices like 0,1,2", sh.gpus)
			}
			if slices.Contains(sh.gpuList, n) {
				return usagef("--gpus %q: GPU %d twice", sh.gpus, n)
			}
			sh.gpuList = append(sh.gpuList, n)
		}
	}
	if sh.slurm && sh.batchDir != "" && sh.shard >= 0 {
		return usagef("--slurm --batch-dir resubmits a batch (with --resume), not one shard")
	}
	switch {
	case sh.runsPerTask < 1:
		return usagef("--runs-per-task %d: want at least 1", sh.runsPerTask)
	case sh.maxParallel < 0:
		return usagef("--max-parallel %d: want 0 (no cap) or more", sh.maxParallel)
	case sh.gpusPerTask < 0:
		return usagef("--gpus-per-task %d: want 0 or more", sh.gpusPerTask)
	}
	return nil
}

// syncWriter serialises writes of several shards and prefixes each line.
type syncWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b bytes.Buffer
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(line) > 0 {
			b.WriteString(s.prefix)
			b.Write(line)
		}
	}
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// collectGPUs runs the batch as one shard per GPU of this host, side by
// side, then finishes it.
func collectGPUs(ctx context.Context, e *env, cfg runner.Config, sh shardFlags, energy func(int) (func() (int64, error), error)) error {
	n := len(sh.gpuList)
	cfg.Shards = n
	prepCfg := cfg
	prepCfg.GPU = sh.gpuList[0]
	prepCfg.DryRun = cfg.DryRun || cfg.Resume
	prep, err := runner.Prepare(ctx, prepCfg)
	if err != nil {
		return err
	}
	cfg.BatchID = prep.BatchID
	if cfg.Resume {
		if _, err := batchdir.ReadBatch(prep.Dir); err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
	}
	mu := &sync.Mutex{}
	sums := make([]*runner.Summary, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, g := range sh.gpuList {
		c := cfg
		c.GPU, c.Shard, c.Join = g, i, true
		c.Warnings = slices.Clone(cfg.Warnings)
		c.ReadEnergy = nil
		if energy != nil {
			if read, err := energy(g); err != nil {
				c.Warnings = append(c.Warnings, fmt.Sprintf("GPU %d energy counter: %v", g, err))
			} else {
				c.ReadEnergy = read
			}
		}
		c.Progress = syncWriter{mu: mu, w: e.stderr, prefix: fmt.Sprintf("gpu %d: ", g)}
		c.Stdout = syncWriter{mu: mu, w: e.stdout, prefix: fmt.Sprintf("gpu %d: ", g)}
		if cfg.DryRun {
			// One after the other, so the listing reads in order.
			sums[i], errs[i] = runner.Run(ctx, c)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], errs[i] = runner.Run(ctx, c)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(e.stderr, "vitlab collect: interrupted; batch %s is incomplete; continue it with --resume --batch %s (or --batch-dir %s --resume)\n", prep.Dir, prep.BatchID, prep.Dir)
		}
		return err
	}
	if cfg.DryRun {
		return nil
	}
	return finishBatch(e, prep.Dir, sums)
}

// finishBatch finalises a sharded batch and prints what its shards did.
func finishBatch(e *env, dir string, sums []*runner.Summary) error {
	var tot runner.Summary
	for _, s := range sums {
		if s == nil {
			continue
		}
		tot.Total += s.Total
		tot.Kept += s.Kept
		tot.OK += s.OK
		tot.Failed += s.Failed
		tot.Timeout += s.Timeout
		tot.Unavailable += s.Unavailable
	}
	st, err := batchdir.Finalize(dir, time.Now())
	fmt.Fprintf(e.stdout, "batch %s: %d runs: %s %d, %s %d, %s %d, %s %d, kept %d\n", dir, tot.Total,
		batchdir.StatusOK, tot.OK, batchdir.StatusFailed, tot.Failed, batchdir.StatusTimeout, tot.Timeout,
		batchdir.StatusUnavailable, tot.Unavailable, tot.Kept)
	if err != nil {
		return err
	}
	if f := st.ByStatus[batchdir.StatusFailed] + st.ByStatus[batchdir.StatusTimeout]; f > 0 {
		fmt.Fprintf(e.stderr, "vitlab collect: %d run(s) failed; see run.json and stderr.log in their run directories; rerun them with --batch-dir %s --resume\n", f, dir)
		return errPartial
	}
	return nil
}

// collectShard runs one shard of an existing batch (a Slurm array task),
// or, with --resume and no --shard, every run of it that is not ok, then
// finishes it.
func collectShard(ctx context.Context, e *env, cfg runner.Config, sh shardFlags) error {
	cfg.Join = true
	cfg.Shard, cfg.Shards = 0, 1
	if sh.shard >= 0 {
		cfg.Shard, cfg.Shards = sh.shard, sh.of
	}
	sum, err := runner.Run(ctx, cfg)
	if err != nil {
		if sum != nil && errors.Is(err, context.Canceled) {
			fmt.Fprintf(e.stderr, "vitlab collect: interrupted; the run under way is left unfinished in %s; --batch-dir %s --resume (or a resubmit) redoes it\n", sum.Dir, sum.Dir)
		}
		return err
	}
	if cfg.DryRun {
		return nil
	}
	if sh.shard < 0 {
		return finishBatch(e, sum.Dir, []*runner.Summary{sum})
	}
	fmt.Fprintf(e.stdout, "shard %d of %d of batch %s: %d runs: %s %d, %s %d, %s %d, %s %d, kept %d\n", sh.shard, sh.of, sum.Dir, sum.Total,
		batchdir.StatusOK, sum.OK, batchdir.StatusFailed, sum.Failed, batchdir.StatusTimeout, sum.Timeout,
		batchdir.StatusUnavailable, sum.Unavailable, sum.Kept)
	if sum.Failures() > 0 {
		return errPartial
	}
	return nil
}

// collectFinalize marks a sharded batch finished, or says what is left.
func collectFinalize(e *env, dir string) error {
	st, err := batchdir.Finalize(dir, time.Now())
	if st != nil {
		printState(e.stdout, dir, st)
	}
	if err != nil {
		if errors.Is(err, batchdir.ErrRunsLeft) {
			fmt.Fprintf(e.stderr, "vitlab collect: batch %s is not finished: %d unfinished, %d never started; run them with vitlab collect --batch-dir %s --resume (add --slurm to resubmit)\n",
				dir, len(st.Unfinished), st.Missing(), dir)
			return errPartial
		}
		return err
	}
	fmt.Fprintf(e.stdout, "batch %s finished\n", dir)
	return nil
}

func printState(w io.Writer, dir string, st *batchdir.State) {
	var statuses []string
	for _, k := range []string{batchdir.StatusOK, batchdir.StatusFailed, batchdir.StatusTimeout, batchdir.StatusUnavailable} {
		statuses = append(statuses, fmt.Sprintf("%s %d", k, st.ByStatus[k]))
	}
	for k, n := range st.ByStatus {
		if !slices.Contains([]string{batchdir.StatusOK, batchdir.StatusFailed, batchdir.StatusTimeout, batchdir.StatusUnavailable}, k) {
			statuses = append(statuses, fmt.Sprintf("%s %d", k, n))
		}
	}
	fmt.Fprintf(w, "runs: %d expected: %s, unfinished %d, not started %d\n", st.Expected, strings.Join(statuses, ", "), len(st.Unfinished), st.Missing())
	if len(st.Unfinished) > 0 {
		fmt.Fprintf(w, "unfinished (running now, or left by a killed task): %s\n", strings.Join(st.Unfinished, " "))
	}
	var hosts []string
	for h, n := range st.Hosts {
		if h == "" {
			h = "?"
		}
		hosts = append(hosts, fmt.Sprintf("%s (%d)", h, n))
	}
	sort.Strings(hosts)
	if len(hosts) > 0 {
		fmt.Fprintf(w, "hosts: %s\n", strings.Join(hosts, ", "))
	}
}

// collectStatus prints what a batch directory and Slurm say of a batch.
func collectStatus(ctx context.Context, e *env, dir string) error {
	b, st, err := batchdir.Scan(dir)
	if err != nil {
		return err
	}
	fin := "not finished"
	if b.Finished != nil {
		fin = "finished " + b.Finished.Format(time.RFC3339)
	}
	fmt.Fprintf(e.stdout, "batch %s: plan %s, profile %s; %s\n", b.ID, b.Plan, b.Profile, fin)
	printState(e.stdout, dir, st)
	jobs, err := slurm.ReadJobs(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	c := slurm.Client{}
	for _, s := range jobs.Submissions {
		fmt.Fprintf(e.stdout, "slurm: array job %s (%d tasks), finalising job %s, submitted %s\n", s.ArrayJob, s.Tasks, s.FinalizeJob, s.SubmittedAt.Format(time.RFC3339))
	}
	last := jobs.Submissions[len(jobs.Submissions)-1]
	js, err := c.Status(ctx, last.ArrayJob, last.FinalizeJob)
	if err != nil {
		fmt.Fprintf(e.stdout, "slurm: not asked: %v\n", err)
		return nil
	}
	if len(js) == 0 {
		fmt.Fprintf(e.stdout, "slurm: neither squeue nor sacct knows the jobs any more (ended; accounting off)\n")
	}
	for _, j := range js {
		fmt.Fprintf(e.stdout, "  %-16s %-12s %s\n", j.ID, j.State, j.Nodes)
	}
	return nil
}

// passOn are the collect flags each Slurm task gets as given.
var passOn = []string{"nsys", "python", "timeout", "keep-raw", "sample-every", "gpu", "gpu-bus", "numactl", "nvml", "compile-cache", "sysfs-root"}

// collectSlurm writes the batch directory and submits it as a job array
// with a finalising job (or, with --dry-run, prints the scripts).
func collectSlurm(ctx context.Context, e *env, fs *flag.FlagSet, cfg runner.Config, sh shardFlags) error {
	var dir, id string
	tasks := 0
	if sh.batchDir != "" {
		// Resubmit: the same shards; each keeps its ok runs.
		dir, id = sh.batchDir, sh.resumeBatch.ID
		tasks = max(sh.resumeBatch.Shards, 1)
		if err := notRunning(ctx, dir); err != nil {
			return err
		}
	} else {
		dry := cfg
		dry.DryRun = true
		s, err := runner.Prepare(ctx, dry)
		if err != nil {
			return err
		}
		tasks = (s.Total + sh.runsPerTask - 1) / sh.runsPerTask
		cfg.Shards, cfg.BatchID = tasks, s.BatchID
		if !cfg.DryRun {
			if s, err = runner.Prepare(ctx, cfg); err != nil {
				return err
			}
		}
		dir, id = s.Dir, s.BatchID
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return err
	}
	args := []string{"--workload", cfg.WorkloadDir}
	fs.Visit(func(f *flag.Flag) {
		if slices.Contains(passOn, f.Name) {
			args = append(args, "--"+f.Name+"="+f.Value.String())
		}
	})
	for _, kv := range cfg.Env {
		args = append(args, "--env", kv)
	}
	if cfg.Nsys != nil {
		for _, kv := range cfg.Nsys.Env {
			args = append(args, "--nsys-env", kv)
		}
	}
	o := slurm.Options{
		BatchDir: dir, BatchID: id, Tasks: tasks, MaxParallel: sh.maxParallel,
		Partition: sh.partition, Account: sh.account, Time: sh.time, GPUsPerTask: sh.gpusPerTask,
		Vitlab: exe, ShardArgs: args,
	}
	if err := o.Check(); err != nil {
		return err
	}
	if cfg.DryRun {
		fmt.Fprintf(e.stdout, "# batch %s: %d array tasks; %s\n", dir, tasks, "nothing written, nothing submitted (--dry-run)")
		fmt.Fprintf(e.stdout, "# %s/%s/%s — sbatch --parsable %s\n%s\n", dir, slurm.Dir, slurm.ArrayScript, slurm.ArrayScript, o.Array())
		fmt.Fprintf(e.stdout, "# %s/%s/%s — sbatch --parsable --dependency=afterany:<array job> %s\n%s", dir, slurm.Dir, slurm.FinalizeScript, slurm.FinalizeScript, o.Finalize())
		return nil
	}
	sub, err := slurm.Client{}.Submit(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "batch %s: submitted array job %s (%d tasks) and finalising job %s (afterany:%s)\n", dir, sub.ArrayJob, tasks, sub.FinalizeJob, sub.ArrayJob)
	fmt.Fprintf(e.stdout, "follow it with: vitlab collect --status %s\n", dir)
	return nil
}

// slurmGPU is the GPU of a Slurm array task that was not given --gpu: the
// first of SLURM_JOB_GPUS (the node's GPU indices Slurm allocated) when
// NVML sees several GPUs (a node whose cgroups do not hide the others);
// where NVML sees one GPU, it is the allocated one, at index 0.
func slurmGPU(fs *flag.FlagSet, sh shardFlags, jobGPUs string, devices func() ([]batchdir.GPU, error)) (int, bool) {
	if sh.batchDir == "" || jobGPUs == "" {
		return 0, false
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "gpu" })
	if given {
		return 0, false
	}
	first, _, _ := strings.Cut(jobGPUs, ",")
	g, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || g < 0 {
		return 0, false
	}
	devs, err := devices()
	if err != nil || len(devs) < 2 || g >= len(devs) {
		return 0, false
	}
	return g, true
}

// notRunning refuses to resubmit a batch whose last submission Slurm still
// has queued or running: two tasks would run the same run into one folder.
func notRunning(ctx context.Context, dir string) error {
	jobs, err := slurm.ReadJobs(dir)
	if err != nil || len(jobs.Submissions) == 0 {
		return nil
	}
	last := jobs.Submissions[len(jobs.Submissions)-1]
	js, err := slurm.Client{}.Status(ctx, last.ArrayJob, last.FinalizeJob)
	if err != nil {
		return nil // Slurm cannot say; the user asked
	}
	for _, j := range js {
		switch j.State {
		case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING":
			return fmt.Errorf("batch %s: job %s is still %s; wait for it (vitlab collect --status %s) or scancel %s %s first", dir, j.ID, strings.ToLower(j.State), dir, last.ArrayJob, last.FinalizeJob)
		}
	}
	return nil
}
