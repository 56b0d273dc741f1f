// Package report runs every saved query and check of the catalog over a
// warehouse, each once, and writes the report under an output directory:
// index.html (one self-contained page: inline CSS and SVG, no script, font
// or image from elsewhere), report.md (the same content, charts as files),
// charts/*.svg, queries/<name>.csv with every row of every saved query, and
// findings/<name>.parquet for every finding and the claims.
//
// The page holds, in order: the claims and their verdicts (saved query
// claims); one section per research question with its findings (the
// queries of findings/ whose header says -- rq: rqN), their charts (the
// header's -- chart: lines) and the claims of that question; a timeline of
// one run (kernels, copies, memsets and NVTX stages over its timed window);
// provenance (batches, GPUs, software versions, repeats per configuration);
// the checks; and an appendix with the runs overview and nsys summaries. A
// query that fails is shown failed in its place and listed in the Summary.
//
// In: an open queries.Warehouse. Out: files, and a Summary. Charts and the
// timeline are drawn with gonum.org/v1/plot (vg/vgsvg), the only plotting
// library; pages with html/template and text/template. The report holds no
// metric of its own: every number is a saved query's output.
package report
