// Package report runs every saved query and every check of the catalog over
// a warehouse and writes the report: report.md and report.html (the same
// content; the HTML is one self-contained file), plus one CSV per saved
// query with all its rows, under an output directory.
//
// In: an open queries.Warehouse. Out: files, and a Summary saying how many
// queries ran and which checks found rows. The report holds no logic of its
// own: every number is a saved query's output, printed as the query returns
// it (CSV with the query's own headers).
package report
