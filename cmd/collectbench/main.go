// Command collectbench measures the collector's cost per run: for each
// batch directory it prints the runs collected, the batch's wall time, the
// runs per GPU-hour it reached, and where a run's wall time goes (medians
// of the clean phase, the traced phase, the export and the rest, from each
// run.json's phase_seconds and started_at/finished_at). Given two batches
// of the same plan and profile on the same card (before and after a change
// to the collector), the last line is the ratio of their runs per GPU-hour.
//
//	go run ./cmd/collectbench DIR [DIR…]
//
// make bench-collect collects a plan on the GPU host and runs this on it
// (BEFORE=DIR adds an earlier batch to compare with). Batches written
// before run.json recorded phase_seconds give the totals only.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"vitlab/collectors/batchdir"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: collectbench BATCH_DIR [BATCH_DIR…]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var rows []row
	for _, dir := range flag.Args() {
		r, err := measure(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "collectbench:", err)
			os.Exit(1)
		}
		rows = append(rows, r)
	}
	print(os.Stdout, rows)
}

// row is one batch's cost.
type row struct {
	id, plan, profile, card string
	runs, ok, notRun        int
	warm                    int           // ok runs whose clean phase was forked warm
	wall                    time.Duration // batch started_at → finished
	perHour                 float64       // ok runs per hour of wall time
	// medians over the batch's ok runs, seconds; -1 when unrecorded
	run, clean, traced, export, other float64
}

func measure(dir string) (row, error) {
	b, err := batchdir.ReadBatch(dir)
	if err != nil {
		return row{}, err
	}
	if b.Finished == nil {
		return row{}, fmt.Errorf("%s: batch.json has no finished time (the batch is incomplete)", dir)
	}
	r := row{id: b.ID, plan: b.Plan, profile: b.Profile, wall: b.Finished.Sub(b.StartedAt),
		run: -1, clean: -1, traced: -1, export: -1, other: -1}
	if len(b.GPUs) > 0 {
		r.card = b.GPUs[0].Name
	}
	entries, err := os.ReadDir(filepath.Join(dir, "runs"))
	if err != nil {
		return row{}, fmt.Errorf("%s: %w", dir, err)
	}
	var total, clean, traced, export, other []float64
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		rr, err := batchdir.ReadRun(filepath.Join(dir, "runs", e.Name()))
		if err != nil {
			return row{}, err
		}
		r.runs++
		if rr.Status == batchdir.StatusUnavailable {
			r.notRun++
			continue
		}
		if rr.Status != batchdir.StatusOK {
			continue
		}
		r.ok++
		if rr.Launch == batchdir.LaunchWarm {
			r.warm++
		}
		if rr.FinishedAt == nil {
			continue
		}
		t := rr.FinishedAt.Sub(rr.StartedAt).Seconds()
		total = append(total, t)
		if p := rr.PhaseSeconds; p != nil {
			clean, traced, export = append(clean, p.Clean), append(traced, p.Traced), append(export, p.Export)
			other = append(other, t-p.Clean-p.Traced-p.Export)
		}
	}
	if h := r.wall.Hours(); h > 0 {
		r.perHour = float64(r.ok) / h
	}
	r.run, r.clean, r.traced, r.export, r.other = median(total), median(clean), median(traced), median(export), median(other)
	return r, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return -1
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func print(w *os.File, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "batch\tplan/profile\tcard\tclean launch\truns ok\twall s\truns/GPU-h\trun s\tclean s\ttraced s\texport s\tother s\t")
	sec := func(v float64) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", v)
	}
	for _, r := range rows {
		launch := "executed"
		switch {
		case r.warm > 0 && r.warm == r.ok:
			launch = "warm"
		case r.warm > 0:
			launch = fmt.Sprintf("warm %d/%d", r.warm, r.ok)
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%d/%d\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", r.id, r.plan, r.profile, strings.TrimPrefix(r.card, "NVIDIA "), launch,
			r.ok, r.runs-r.notRun, r.wall.Seconds(), r.perHour, sec(r.run), sec(r.clean), sec(r.traced), sec(r.export), sec(r.other))
	}
	tw.Flush()
	if len(rows) >= 2 {
		a, b := rows[0], rows[len(rows)-1]
		if a.plan != b.plan || a.profile != b.profile || a.card != b.card {
			fmt.Fprintf(w, "\nnot compared: %s and %s differ in plan, profile or card\n", a.id, b.id)
		} else if a.perHour > 0 {
			fmt.Fprintf(w, "\nruns per GPU-hour, %s / %s: %.2f×\n", b.id, a.id, b.perHour/a.perHour)
		}
	}
}
