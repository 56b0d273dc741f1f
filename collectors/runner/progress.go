package runner

// progress.go: the progress lines a collection prints — one per run, with
// counts and an ETA.

import (
	"fmt"
	"io"
	"strings"
	"time"

	"vitlab/collectors/batchdir"
)

// progress prints one line per run with counts and an ETA from the mean
// time of the runs executed so far.
type progress struct {
	w                 io.Writer
	total, todo, done int
	ran               int
	spent             time.Duration
}

func (p *progress) starting(id string) {
	fmt.Fprintf(p.w, "[%d/%d] %s …\n", p.done+1, p.total, id)
}

func (p *progress) finished(rec *batchdir.Run, d time.Duration, s *Summary) {
	p.done++
	if rec.Status != batchdir.StatusUnavailable {
		p.ran++
		p.spent += d
	}
	eta := "?"
	if p.ran > 0 {
		left := p.todo - p.ran
		eta = (p.spent / time.Duration(p.ran) * time.Duration(max(left, 0))).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "[%d/%d] %s %s in %s | ok %d, failed %d, timeout %d, unavailable %d | ETA %s\n",
		p.done, p.total, rec.ID, rec.Status, d.Round(100*time.Millisecond), s.OK, s.Failed, s.Timeout, s.Unavailable, eta)
	if rec.Status != batchdir.StatusOK && rec.Error != "" {
		fmt.Fprintf(p.w, "    %s\n", firstLine(rec.Error))
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	return line
}
