package runner

// dryrun.go: the dry run (--dry-run) — the listing of the batch, each run
// and its exact commands, with the text helpers it uses and the POSIX
// shell quoting of printed commands (shellJoin, also used for stdout.log).

import (
	"fmt"
	"regexp"
	"strings"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/plan"
)

// dryRun prints the batch, each run and its exact commands.
func (r *runner) dryRun() (*Summary, error) {
	w := r.cfg.Stdout
	s := &Summary{BatchID: r.batchID, Dir: r.dir, Total: len(r.runs)}
	fmt.Fprintf(w, "batch %s: plan %s, profile %s, %d of %d runs (%d configurations × %d repeats), %s\n",
		r.batchID, r.x.Plan, r.x.Profile, len(r.runs), len(r.x.Runs), r.x.Configs, r.x.Repeats, orderText(r.x.OrderSeed))
	if r.x.TraceRepeats > 0 {
		fmt.Fprintf(w, "traced: %s (the other repeats: clean phase only)\n", traceText(r.x.TraceRepeats))
	}
	fmt.Fprintf(w, "dir: %s\n", r.dir)
	fmt.Fprintf(w, "gpu %d: %s; NUMA node %s; host NUMA nodes: %s\n", r.cfg.GPU, gpuText(r.gpu), nodeText(r.gpuNode), topoText(r.topo))
	fmt.Fprintf(w, "timeout per run: %s\n", r.timeout)
	fmt.Fprintf(w, "env: %s\n", shellJoin(r.setEnv()))
	if r.cfg.Nsys != nil && len(r.cfg.Nsys.Env) > 0 {
		fmt.Fprintf(w, "env of the traced phase also: %s (LD_LIBRARY_PATH is prepended)\n", shellJoin(r.cfg.Nsys.Env))
	}
	for _, wn := range r.warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	var done map[string]string
	if r.cfg.Resume {
		done = r.existingStatuses()
	}
	for i, run := range r.runs {
		fmt.Fprintf(w, "\n%s  model=%s numa=%s %s\n", run.ID, orDash(run.Model), run.NUMA, plan.Describe(run.Settings))
		if st, ok := done[run.ID]; ok && st == batchdir.StatusOK {
			fmt.Fprintf(w, "  kept: run.json says ok (resume)\n")
			s.Kept++
			continue
		}
		if err := r.bindErrs[i]; err != nil {
			fmt.Fprintf(w, "  unavailable: %v\n", err)
			s.Unavailable++
			continue
		}
		clean, traced := r.commands(run, r.binds[i])
		fmt.Fprintf(w, "  placement: %s\n", placementText(r.binds[i].Placement))
		fmt.Fprintf(w, "  clean:  %s\n", shellJoin(clean))
		if run.Traced {
			fmt.Fprintf(w, "  traced: %s\n", shellJoin(traced))
		} else {
			fmt.Fprintf(w, "  traced: none (repeat %d is beyond trace_repeats %d)\n", run.Repeat, r.x.TraceRepeats)
		}
	}
	return s, nil
}

// orderText says how the runs are ordered inside each repeat round.
func orderText(seed int64) string {
	if seed == 0 {
		return "in the plan's order"
	}
	return fmt.Sprintf("shuffled with order seed %d", seed)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func gpuText(g batchdir.GPU) string {
	if g.Name == "" {
		return "unknown (no NVML inventory)"
	}
	s := g.Name
	if g.UUID != "" {
		s += " " + g.UUID
	}
	if g.BusID != "" {
		s += " at " + g.BusID
	}
	return s
}

func nodeText(n *int) string {
	if n == nil {
		return "unknown"
	}
	return fmt.Sprint(*n)
}

func topoText(t batchdir.NUMA) string {
	if len(t.Nodes) == 0 {
		return "unknown"
	}
	var parts []string
	for _, n := range t.Nodes {
		parts = append(parts, fmt.Sprintf("%d[cpus %s]", n.ID, n.CPUs))
	}
	return fmt.Sprintf("%d (%s: %s)", len(t.Nodes), t.Source, strings.Join(parts, " "))
}

func placementText(p batchdir.Placement) string {
	if p.CPUNodes == "" {
		return p.Placement + ", unbound"
	}
	return fmt.Sprintf("%s, cpus and memory on node %s", p.Placement, p.CPUNodes)
}

// shellJoin quotes argv for a POSIX shell, so printed commands can be
// pasted.
func shellJoin(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
}

var plainArg = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

func shellQuote(s string) string {
	if plainArg.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
