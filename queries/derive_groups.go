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

// runGroups returns the batch's runs (its base views are base, the SQL of
// baseViews) in groups of consecutive run ids of at most maxEvents events
// each (a bigger run alone); one group, nil, when the batch fits. Before
// returning several, it creates the unfiltered base views under allPrefix
// (groupViews then filters them).
func (s *deriveSession) runGroups(ctx context.Context, base string, maxEvents int64) ([][]string, error) {
	res, err := s.w.db.Query(ctx, `select run_id, coalesce(kernels, 0) + coalesce(memcpys, 0) + coalesce(memsets, 0)
		+ coalesce(cuda_api, 0) + coalesce(nvtx, 0) from runs order by run_id`)
	if err != nil {
		return nil, err
	}
	var groups [][]string
	var cur []string
	var events int64
	for _, r := range res.Rows {
		id, n := fmt.Sprint(r[0]), asInt64(r[1])
		if len(cur) > 0 && events+n > maxEvents {
			groups = append(groups, cur)
			cur, events = nil, 0
		}
		cur = append(cur, id)
		events += n
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	if len(groups) <= 1 {
		return [][]string{nil}, nil
	}
	all := base
	for _, t := range Tables() {
		all = strings.ReplaceAll(all, "create or replace view "+t.Name+" as\n", "create or replace view "+allPrefix+t.Name+" as\n")
	}
	if err := s.w.db.Exec(ctx, all); err != nil {
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
