package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Dir is the folder inside a batch directory that holds the job scripts,
// jobs.json and the tasks' Slurm logs.
const Dir = "slurm"

// File names inside Dir.
const (
	ArrayScript    = "array.sh"
	FinalizeScript = "finalize.sh"
	JobsFile       = "jobs.json"
)

// Options are what the scripts ask of Slurm and what their tasks run.
type Options struct {
	// BatchDir is the batch directory (absolute; on shared storage).
	BatchDir string
	// BatchID names the jobs (vitlab-<id>).
	BatchID string
	// Tasks is the number of array tasks (shards).
	Tasks int
	// MaxParallel caps the tasks running at once (%K); 0: no cap.
	MaxParallel int
	// Partition, Account and Time (sbatch --time, e.g. 2:00:00) are
	// passed on when set.
	Partition, Account, Time string
	// GPUsPerTask is sbatch --gpus-per-task; 0 asks for no GPU (CPU
	// nodes, the stand-in workload).
	GPUsPerTask int
	// Vitlab is the vitlab executable as the nodes see it.
	Vitlab string
	// ShardArgs are extra flags of each task's vitlab collect (--nsys,
	// --python, --workload, --env …).
	ShardArgs []string
	// Env holds KEY=VALUE exported by both scripts before vitlab runs.
	Env []string
}

// Jobs is jobs.json: what was submitted for a batch, newest last.
type Jobs struct {
	Submissions []Submission `json:"submissions"`
}

// Submission is one sbatch of the array and its finaliser.
type Submission struct {
	ArrayJob    string    `json:"array_job"`
	FinalizeJob string    `json:"finalize_job"`
	Tasks       int       `json:"tasks"`
	SubmittedAt time.Time `json:"submitted_at"`
}

var plainArg = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	if plainArg.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}

func (o Options) header(b *strings.Builder, name, output string) {
	fmt.Fprintf(b, "#!/bin/bash\n")
	fmt.Fprintf(b, "#SBATCH --job-name=%s\n", Quote(name))
	fmt.Fprintf(b, "#SBATCH --output=%s\n", Quote(output))
	fmt.Fprintf(b, "#SBATCH --ntasks=1\n")
	if o.Partition != "" {
		fmt.Fprintf(b, "#SBATCH --partition=%s\n", Quote(o.Partition))
	}
	if o.Account != "" {
		fmt.Fprintf(b, "#SBATCH --account=%s\n", Quote(o.Account))
	}
	if o.Time != "" {
		fmt.Fprintf(b, "#SBATCH --time=%s\n", Quote(o.Time))
	}
}

func (o Options) env(b *strings.Builder) {
	for _, kv := range o.Env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(b, "export %s=%s\n", k, Quote(v))
	}
}

// Check says what is wrong with o.
func (o Options) Check() error {
	switch {
	case o.Tasks < 1:
		return fmt.Errorf("slurm: %d tasks: want at least 1", o.Tasks)
	case o.MaxParallel < 0:
		return fmt.Errorf("slurm: --max-parallel %d: want 0 (no cap) or more", o.MaxParallel)
	case o.GPUsPerTask < 0:
		return fmt.Errorf("slurm: --gpus-per-task %d: want 0 or more", o.GPUsPerTask)
	case !filepath.IsAbs(o.BatchDir) || !filepath.IsAbs(o.Vitlab):
		return fmt.Errorf("slurm: the batch directory %q and vitlab %q must be absolute paths", o.BatchDir, o.Vitlab)
	}
	for _, kv := range o.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(k) {
			return fmt.Errorf("slurm: environment %q: want KEY=VALUE", kv)
		}
	}
	return nil
}

// Array is the job-array script: task i runs shard i.
func (o Options) Array() string {
	var b strings.Builder
	o.header(&b, "vitlab-"+o.BatchID, filepath.Join(o.BatchDir, Dir, "task-%A_%a.out"))
	arr := fmt.Sprintf("0-%d", o.Tasks-1)
	if o.MaxParallel > 0 {
		arr += fmt.Sprintf("%%%d", o.MaxParallel)
	}
	fmt.Fprintf(&b, "#SBATCH --array=%s\n", arr)
	if o.GPUsPerTask > 0 {
		fmt.Fprintf(&b, "#SBATCH --gpus-per-task=%d\n", o.GPUsPerTask)
	}
	fmt.Fprintf(&b, "#SBATCH --open-mode=append\n")
	fmt.Fprintf(&b, "#SBATCH --signal=B:TERM@60\n")
	fmt.Fprintf(&b, "# vitlab batch %s: %d shards; task i runs runs j with j %% %d == i.\n", o.BatchID, o.Tasks, o.Tasks)
	fmt.Fprintf(&b, "# A cancelled or preempted task leaves its current run unfinished (no run.json);\n")
	fmt.Fprintf(&b, "# resubmitting (vitlab collect --slurm --batch-dir DIR --resume) redoes only what is not ok.\n")
	fmt.Fprintf(&b, "set -eu\n")
	o.env(&b)
	fmt.Fprintf(&b, "exec %s --shard \"${SLURM_ARRAY_TASK_ID}\" --of %d",
		quoteAll([]string{o.Vitlab, "collect", "--batch-dir", o.BatchDir}), o.Tasks)
	if len(o.ShardArgs) > 0 {
		fmt.Fprintf(&b, " %s", quoteAll(o.ShardArgs))
	}
	b.WriteString("\n")
	return b.String()
}

// Finalize is the finalising job's script (submitted with
// --dependency=afterany:<array job>).
func (o Options) Finalize() string {
	var b strings.Builder
	oo := o
	oo.Time = "" // the finaliser takes seconds; the partition's default limit is plenty
	if o.Time != "" {
		oo.Time = "10:00"
	}
	oo.header(&b, "vitlab-"+o.BatchID+"-finalize", filepath.Join(o.BatchDir, Dir, "finalize-%j.out"))
	fmt.Fprintf(&b, "# Runs after every task of the array has ended (afterany): marks the batch finished\n")
	fmt.Fprintf(&b, "# when every run has run.json, else lists what is left and exits 1.\n")
	fmt.Fprintf(&b, "set -eu\n")
	o.env(&b)
	fmt.Fprintf(&b, "exec %s\n", quoteAll([]string{o.Vitlab, "collect", "--finalize", o.BatchDir}))
	return b.String()
}

// Client runs Slurm's commands. Its zero value uses the PATH.
type Client struct {
	// Bin is the folder of sbatch, squeue, sacct and scancel; "" is PATH.
	Bin string
}

func (c Client) cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	if c.Bin != "" {
		name = filepath.Join(c.Bin, name)
	}
	return exec.CommandContext(ctx, name, args...)
}

func (c Client) output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := c.cmd(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("slurm: %s %s: %s", name, strings.Join(args, " "), msg)
	}
	return string(out), nil
}

// ErrNoSlurm says sbatch is not on the PATH.
var ErrNoSlurm = errors.New("sbatch not found (is this a Slurm login node?)")

// Submit writes both scripts into <batch>/slurm/, submits the array, then
// the finaliser depending on it (afterany), and appends the job ids to
// jobs.json.
func (c Client) Submit(ctx context.Context, o Options) (*Submission, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if c.Bin == "" {
		if _, err := exec.LookPath("sbatch"); err != nil {
			return nil, fmt.Errorf("slurm: %w", ErrNoSlurm)
		}
	}
	dir := filepath.Join(o.BatchDir, Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("slurm: %w", err)
	}
	arrayPath, finalPath := filepath.Join(dir, ArrayScript), filepath.Join(dir, FinalizeScript)
	if err := os.WriteFile(arrayPath, []byte(o.Array()), 0o755); err != nil {
		return nil, fmt.Errorf("slurm: %w", err)
	}
	if err := os.WriteFile(finalPath, []byte(o.Finalize()), 0o755); err != nil {
		return nil, fmt.Errorf("slurm: %w", err)
	}
	arrayID, err := c.sbatch(ctx, arrayPath)
	if err != nil {
		return nil, err
	}
	finalID, err := c.sbatch(ctx, "--dependency=afterany:"+arrayID, "--kill-on-invalid-dep=no", finalPath)
	if err != nil {
		return nil, fmt.Errorf("%w (array job %s was submitted; cancel it with scancel %s or finish the batch with vitlab collect --finalize %s)", err, arrayID, arrayID, o.BatchDir)
	}
	s := Submission{ArrayJob: arrayID, FinalizeJob: finalID, Tasks: o.Tasks, SubmittedAt: time.Now().UTC()}
	jobs, _ := ReadJobs(o.BatchDir)
	if jobs == nil {
		jobs = &Jobs{}
	}
	jobs.Submissions = append(jobs.Submissions, s)
	if err := writeJSON(filepath.Join(dir, JobsFile), jobs); err != nil {
		return &s, err
	}
	return &s, nil
}

func (c Client) sbatch(ctx context.Context, args ...string) (string, error) {
	out, err := c.output(ctx, "sbatch", append([]string{"--parsable"}, args...)...)
	if err != nil {
		return "", err
	}
	// --parsable prints "jobid" or "jobid;cluster".
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";")
	if id == "" {
		return "", fmt.Errorf("slurm: sbatch %s printed no job id", strings.Join(args, " "))
	}
	return id, nil
}

// ReadJobs reads <batch>/slurm/jobs.json; nil, an error wrapping
// os.ErrNotExist for a batch never submitted.
func ReadJobs(batchDir string) (*Jobs, error) {
	b, err := os.ReadFile(filepath.Join(batchDir, Dir, JobsFile))
	if err != nil {
		return nil, fmt.Errorf("slurm: %w", err)
	}
	var j Jobs
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("slurm: %s: %w", filepath.Join(batchDir, Dir, JobsFile), err)
	}
	return &j, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("slurm: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("slurm: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("slurm: %w", err)
	}
	return nil
}

// Job is one job or array task as Slurm reports it.
type Job struct {
	ID    string // 123, 123_4, or 123_[5-9] for pending tasks
	State string // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, …
	Nodes string
}

// Status says what Slurm knows of the jobs: squeue for jobs still queued
// or running, then sacct (when accounting is on) for those that ended.
// Jobs Slurm no longer knows are absent. An error means neither command
// could be asked.
func (c Client) Status(ctx context.Context, ids ...string) ([]Job, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	var out []Job
	q, qerr := c.output(ctx, "squeue", "--noheader", "--array", "--jobs="+strings.Join(ids, ","), "--format=%i|%T|%N")
	for _, line := range strings.Split(q, "\n") {
		if f := strings.Split(strings.TrimSpace(line), "|"); len(f) == 3 {
			out = append(out, Job{ID: f[0], State: f[1], Nodes: f[2]})
			seen[f[0]] = true
		}
	}
	a, aerr := c.output(ctx, "sacct", "--noheader", "--parsable2", "--allocations", "--jobs="+strings.Join(ids, ","), "--format=JobID,State,NodeList")
	for _, line := range strings.Split(a, "\n") {
		if f := strings.Split(strings.TrimSpace(line), "|"); len(f) == 3 && !seen[f[0]] {
			st, _, _ := strings.Cut(f[1], " ") // "CANCELLED by 0"
			out = append(out, Job{ID: f[0], State: st, Nodes: f[2]})
			seen[f[0]] = true
		}
	}
	if qerr != nil && aerr != nil {
		return nil, qerr
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Cancel cancels jobs (scancel), e.g. one array task "123_4".
func (c Client) Cancel(ctx context.Context, ids ...string) error {
	_, err := c.output(ctx, "scancel", ids...)
	return err
}
