package queries

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"vitlab/queries/duck"
)

// Groups of runs: a batch of more events than a derivation pass takes
// (DeriveOptions.MaxEvents) is derived a group of its runs at a time, so
// that a pass's memory follows the pass size, not the batch's (a batch of
// 224 exports, 5M events, needed over 1 GB in one pass). Every derived
// view and query has rows per run; those that order by batch_id, run_id
// are computed per group and their files concatenated in run order, the
// others (few rows, cheap) once over the whole batch at the end.

// allPrefix names the unfiltered base views of a batch derived in groups.
const allPrefix = "vitlab_all_"

// runGroup is a group of consecutive runs of a batch derived together
// (runs; nil: the whole batch), cut into the smaller groups (parts) in
// which its heavy derived queries are computed (heavyDerived).
type runGroup struct {
	runs  []string
	parts [][]string
	// events are each part's events (nil: unknown, one part)
	events []int64
}

// chunks cuts the group's parts into consecutive chunks of at most
// maxEvents events (a bigger part alone) and returns each chunk's runs;
// [nil] (the group's views as they are) when the group is one chunk.
func (g runGroup) chunks(maxEvents int64) [][]string {
	var out [][]string
	var cur []string
	var n int64
	for i, p := range g.parts {
		if i >= len(g.events) {
			return [][]string{nil}
		}
		if len(cur) > 0 && n+g.events[i] > maxEvents {
			out = append(out, cur)
			cur, n = nil, 0
		}
		cur = append(cur, p...)
		n += g.events[i]
	}
	if len(out) == 0 {
		return [][]string{nil}
	}
	return append(out, cur)
}

// heavyDerived are the derived queries whose memory grows fastest with
// the events of a pass: they are computed in groups of at most
// DeriveOptions.MaxEvents events, every other derived view and query in
// groups of up to DeriveOptions.WideEvents. On the ingest bench's batch
// (224 exports, 5.1M events) in one pass, nsys_nvtx_kern_sum (a range join
// of every kernel with the NVTX ranges around its launch, grouped by
// kernel name with a median and two distinct counts) outgrew a 200 MiB
// memory_limit and peaked at 1.5 GB, while every other statement stayed
// under 310 MB RSS; in passes of 256k events the ~40 other statements cost
// ~8 s more in all (a fixed cost per statement and group).
var heavyDerived = map[string]bool{"nsys_nvtx_kern_sum": true}

// runGroups returns the batch's runs (its base views are base, the SQL of
// baseViews) in groups of consecutive run ids of at most wideEvents events
// each, each cut into parts of at most maxEvents (a bigger run alone); one
// group with one part, nil, when the batch fits in maxEvents. Before
// returning more, it creates the unfiltered base views under allPrefix
// (groupViews then filters them).
func (s *deriveSession) runGroups(ctx context.Context, base string, maxEvents, wideEvents int64) ([]runGroup, error) {
	res, err := s.w.db.Query(ctx, `select run_id, coalesce(kernels, 0) + coalesce(memcpys, 0) + coalesce(memsets, 0)
		+ coalesce(cuda_api, 0) + coalesce(nvtx, 0) from runs order by run_id`)
	if err != nil {
		return nil, err
	}
	whole := []runGroup{{parts: [][]string{nil}}}
	var parts [][]string
	var partEvents []int64
	var cur []string
	var events int64
	for _, r := range res.Rows {
		id, n := fmt.Sprint(r[0]), asInt64(r[1])
		if len(cur) > 0 && events+n > maxEvents {
			parts, partEvents = append(parts, cur), append(partEvents, events)
			cur, events = nil, 0
		}
		cur = append(cur, id)
		events += n
	}
	if len(cur) > 0 {
		parts, partEvents = append(parts, cur), append(partEvents, events)
	}
	if len(parts) <= 1 {
		return whole, nil
	}
	var groups []runGroup
	var g runGroup
	events = 0
	for i, p := range parts {
		if len(g.parts) > 0 && events+partEvents[i] > wideEvents {
			groups = append(groups, g)
			g, events = runGroup{}, 0
		}
		g.runs = append(g.runs, p...)
		g.parts = append(g.parts, p)
		g.events = append(g.events, partEvents[i])
		events += partEvents[i]
	}
	groups = append(groups, g)
	if len(groups) == 1 {
		groups[0].runs = nil // the whole batch
	}
	all := base
	for _, t := range Tables() {
		all = strings.ReplaceAll(all, "create or replace view "+t.Name+" as\n", "create or replace view "+allPrefix+t.Name+" as\n")
	}
	if err := s.w.db.Exec(ctx, all); err != nil {
		return nil, err
	}
	// The base views of the whole batch, over the unfiltered ones, so that
	// groupViews can point them at a part and back.
	if err := s.w.db.Exec(ctx, groupViews(nil)); err != nil {
		return nil, err
	}
	return groups, nil
}

// groupViews points each base view at the rows of runs ids of its
// unfiltered view (allPrefix); nil ids: every row.
func groupViews(ids []string) string {
	var b strings.Builder
	for _, t := range Tables() {
		fmt.Fprintf(&b, "create or replace view %s as select * from %s", duck.Ident(t.Name), duck.Ident(allPrefix+t.Name))
		if ids != nil && t.Index("run_id") >= 0 {
			fmt.Fprintf(&b, " where run_id in (%s)", quoteAll(ids))
		}
		b.WriteString(";\n")
	}
	return b.String()
}

// orderByRunRE matches a final ORDER BY that starts with batch_id, run_id.
var orderByRunRE = regexp.MustCompile(`(?is)order\s+by\s+batch_id\s*,\s*run_id\b[^;]*$`)

// ordersByRun says whether q's answer is ordered by batch_id, run_id
// first (its last ORDER BY) and does not read the batches table (a row per
// batch, which every group would see), so that per-group answers
// concatenated in run order are its answer.
func ordersByRun(q *Query) bool {
	if slices.Contains(q.Inputs, "batches") {
		return false
	}
	body := stripComments(q.SQL)
	i := strings.LastIndex(strings.ToLower(body), "order by")
	return i >= 0 && orderByRunRE.MatchString(body[i:])
}

// readsDerived says whether q reads a derived metric view (a temporary
// table of the whole group while a group is derived, which a part of the
// group would not filter).
func readsDerived(cat *Catalog, q *Query) bool {
	for _, v := range cat.DerivedViews() {
		if slices.Contains(q.Inputs, v.Name) {
			return true
		}
	}
	return false
}
