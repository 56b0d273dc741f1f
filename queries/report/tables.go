package report

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"vitlab/queries"
	"vitlab/queries/duck"
)

// settingCols are the settings a short configuration label may show, in
// its order, with the prefix of each value ("p16 d12 h768 b64").
var settingCols = []struct{ col, prefix string }{
	{"rq", ""}, {"patch", "p"}, {"depth", "d"}, {"hidden", "h"}, {"resolution", "r"}, {"batch_size", "b"},
	{"compile_mode", ""}, {"pipeline", ""}, {"queue_depth", "q"}, {"preprocess", ""},
}

// answerCols are, per finding, the columns that carry its answer beyond
// those its charts draw; the main table shows them first.
var answerCols = map[string][]string{
	"rq1_architecture": {"clean_throughput", "gpu_busy", "tflops", "peak_fraction"},
	"rq1_launch_bound": {"bound", "kernels_per_image", "launch_gap_p50_us", "gpu_busy"},
	"rq2_resolution":   {"tokens", "clean_throughput", "token_rate_m", "latency_p50_ms", "latency_p99_ms", "peak_mem_per_image_mib"},
	"rq3_compile":      {"speedup", "compile_s", "break_even_images"},
	"rq4_numa":         {"ratio", "local_throughput", "remote_throughput", "unbound_throughput", "status"},
	"rq5_pipeline":     {"clean_throughput", "vs_sync", "latency_p50_ms", "latency_p99_ms", "copy_compute_overlap"},
	"energy":           {"energy_per_image_mj", "clean_throughput", "avg_power_w", "energy_source"},
}

// headerLabels are short table headers, in words with units.
var headerLabels = map[string]string{
	"clean_throughput":       "throughput (img/s)",
	"traced_throughput":      "traced throughput (img/s)",
	"gpu_busy":               "GPU busy (fraction)",
	"tflops":                 "TFLOP/s",
	"peak_fraction":          "of bf16 peak (fraction)",
	"gflops_per_image":       "GFLOP per image",
	"kernels_per_image":      "kernels per image",
	"launch_gap_p50_us":      "launch gap p50 (µs)",
	"kernel_us":              "GPU time per kernel (µs)",
	"tokens":                 "tokens per image",
	"token_rate_m":           "token rate (M tokens/s)",
	"latency_p50_ms":         "latency p50 (ms)",
	"latency_p90_ms":         "latency p90 (ms)",
	"latency_p99_ms":         "latency p99 (ms)",
	"peak_mem_mib":           "peak memory (MiB)",
	"peak_mem_per_image_mib": "peak memory per image (MiB)",
	"speedup":                "speedup over eager (×)",
	"compile_s":              "compile time (s)",
	"break_even_images":      "break-even (images)",
	"ratio":                  "local / remote (×)",
	"local_throughput":       "local (img/s)",
	"remote_throughput":      "remote (img/s)",
	"unbound_throughput":     "unbound (img/s)",
	"vs_sync":                "vs sync (×)",
	"copy_compute_overlap":   "copy hidden under kernels (fraction)",
	"energy_per_image_mj":    "energy per image (mJ)",
	"avg_power_w":            "average power (W)",
	"batch_size":             "batch (images)",
	"queue_depth":            "queue depth",
	"compile_mode":           "compile mode",
	"hidden":                 "hidden size",
	"resolution":             "resolution (px)",
	"bound":                  "class",
	"status":                 "status",
	"energy_source":          "measured from",
}

func headerLabel(col string) string {
	if l, ok := headerLabels[col]; ok {
		return l
	}
	return strings.ToLower(axisLabel(col)[:1]) + axisLabel(col)[1:]
}

// configLabels returns the short label of each row: the settings that vary
// between the rows (all of them when none varies), e.g. "p16 d12 h768".
func configLabels(res *duck.Result) []string {
	idx := map[string]int{}
	for i, c := range res.Columns {
		idx[c.Name] = i
	}
	var vary, present []int
	for _, s := range settingCols {
		i, ok := idx[s.col]
		if !ok {
			continue
		}
		seen := map[string]bool{}
		for _, r := range res.Rows {
			if r[i] != nil {
				seen[cellText(r[i])] = true
			}
		}
		if len(seen) > 0 {
			present = append(present, i)
		}
		if len(seen) > 1 {
			vary = append(vary, i)
		}
	}
	use := vary
	if len(use) == 0 {
		use = present
	}
	pre := map[int]string{}
	for _, s := range settingCols {
		if i, ok := idx[s.col]; ok {
			pre[i] = s.prefix
		}
	}
	out := make([]string, len(res.Rows))
	for k, r := range res.Rows {
		var parts []string
		for _, i := range use {
			if r[i] != nil {
				parts = append(parts, pre[i]+cellText(r[i]))
			}
		}
		out[k] = strings.Join(parts, " ")
	}
	if ci, ok := idx["config_id"]; ok && !unique(out) {
		// The settings columns do not tell the rows apart: the words of
		// the config_id that differ between rows do.
		ids := make([]string, len(res.Rows))
		for k, r := range res.Rows {
			ids[k] = cellText(r[ci])
		}
		if l := differingWords(ids); unique(l) {
			return l
		}
	}
	return out
}

func unique(ss []string) bool {
	seen := map[string]bool{}
	for _, s := range ss {
		if seen[s] {
			return false
		}
		seen[s] = true
	}
	return true
}

// differingWords keeps, of each id's words (split at "-", " " and "@"),
// those not shared by every id.
func differingWords(ids []string) []string {
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == ' ' || r == '@' })
	}
	common := map[string]int{}
	for _, id := range ids {
		seen := map[string]bool{}
		for _, w := range split(id) {
			if !seen[w] {
				common[w]++
				seen[w] = true
			}
		}
	}
	out := make([]string, len(ids))
	for k, id := range ids {
		var keep []string
		for _, w := range split(id) {
			if common[w] < len(ids) {
				keep = append(keep, w)
			}
		}
		out[k] = strings.Join(keep, " ")
	}
	return out
}

// findingTables returns a finding's main table (a short configuration
// label, then the columns that carry the answer, each value with its
// interval and n in one cell; columns null in every row left out) and the
// full table (every column, as the CSV has them) that the page folds.
func (r *run) findingTables(q *queries.Query, res *duck.Result) (main, full tableView) {
	full = r.table(res, "q-"+q.Name)
	idx := map[string]int{}
	for i, c := range res.Columns {
		idx[c.Name] = i
	}
	cid, hasConfig := idx["config_id"]
	var labels []string
	if hasConfig {
		labels = configLabels(res)
	}
	// The answer columns: the finding's own list, then what its charts draw.
	var cols []string
	add := func(c string) {
		if _, ok := idx[c]; ok && !slices.Contains(cols, c) && c != "config_id" {
			cols = append(cols, c)
		}
	}
	if !hasConfig {
		for _, ch := range q.Charts {
			if ch.Series != "" {
				add(ch.Series)
			}
		}
	}
	for _, ch := range q.Charts {
		// A text x (a category) is what the configuration label says.
		if i, ok := idx[ch.X]; ok && !(hasConfig && res.Columns[i].Type == "VARCHAR") {
			add(ch.X)
		}
	}
	for _, c := range answerCols[q.Name] {
		add(c)
	}
	for _, ch := range q.Charts {
		add(ch.Y)
	}
	// Leave out columns null in every row, and label settings already in the label.
	inLabel := map[string]bool{}
	if hasConfig && len(res.Rows) > 0 {
		for _, s := range settingCols {
			if i, ok := idx[s.col]; ok && varies(res, i) {
				inLabel[s.col] = true
			}
		}
	}
	cols = slices.DeleteFunc(cols, func(c string) bool {
		return allNull(res, idx[c]) || (inLabel[c] && c != "tokens")
	})

	main = tableView{ID: "main-" + q.Name, Total: full.Total, More: full.More}
	if hasConfig {
		main.Head = append(main.Head, "configuration")
		main.HeadTitle = append(main.HeadTitle, "the settings that vary between these rows; hover for the full config_id")
	}
	for _, c := range cols {
		main.Head = append(main.Head, headerLabel(c))
		main.HeadTitle = append(main.HeadTitle, c)
	}
	for k, row := range res.Rows {
		if k == r.opt.MaxRows {
			break
		}
		var cells []cellView
		if hasConfig {
			cells = append(cells, cellView{Text: labels[k], Title: cellText(row[cid])})
		}
		for _, c := range cols {
			cells = append(cells, valueCell(res, row, idx, c))
		}
		main.Rows = append(main.Rows, cells)
	}
	return main, full
}

func varies(res *duck.Result, i int) bool {
	seen := map[string]bool{}
	for _, r := range res.Rows {
		if r[i] != nil {
			seen[cellText(r[i])] = true
		}
	}
	return len(seen) > 1
}

func allNull(res *duck.Result, i int) bool {
	for _, r := range res.Rows {
		if r[i] != nil {
			return false
		}
	}
	return true
}

// valueCell is column c of row as the main table shows it: a number with
// 4 significant digits, its interval "[lo – hi]" and "n=…" where the result
// has them; the exact values in the cell's title.
func valueCell(res *duck.Result, row []any, idx map[string]int, c string) cellView {
	v := row[idx[c]]
	f, isNum := number(v)
	if _, isBool := v.(bool); !isNum || isBool || v == nil || math.IsNaN(f) {
		return cellView{Text: displayText(v)}
	}
	cell := cellView{Text: fmtNumber(f), Num: true, Title: cellText(v)}
	sub := &duck.Result{Columns: res.Columns}
	if lo, hi := intervalColumns(sub, c); lo >= 0 && row[lo] != nil && row[hi] != nil {
		l, _ := number(row[lo])
		h, _ := number(row[hi])
		cell.Text += " [" + fmtNumber(l) + " – " + fmtNumber(h) + "]"
		cell.Title = fmt.Sprintf("%s = %s, interval [%s, %s]", c, cellText(v), cellText(row[lo]), cellText(row[hi]))
		base := strings.TrimSuffix(res.Columns[lo].Name, "_lo")
		if i, ok := idx[base+"_n"]; ok && row[i] != nil {
			cell.Text += " n=" + cellText(row[i])
			cell.Title += ", n = " + cellText(row[i])
		}
	}
	return cell
}
