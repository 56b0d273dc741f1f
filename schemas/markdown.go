package schemas

import (
	"fmt"
	"strings"
)

// Markdown renders the documentation of every table (SCHEMA.md).
func Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Warehouse schema (version %d)\n\n", Version)
	b.WriteString("Generated from `schemas/` by `make schemas`; do not edit by hand.\n\n")
	b.WriteString("Layout: `<warehouse>/<table>/batch_id=<batch-id>/part-NNNN.parquet` (zstd, Arrow schema in each file), ")
	b.WriteString("`<warehouse>/_manifest.json` lists the committed batches and their files. ")
	b.WriteString("Times of events are int64 nanoseconds since the export's session start.\n\n")
	for _, t := range all {
		fmt.Fprintf(&b, "- [%s](#%s): %s\n", t.Name, t.Name, t.Row)
	}
	for _, t := range all {
		fmt.Fprintf(&b, "\n## %s\n\nA row is %s. %s\n\n", t.Name, t.Row, t.Doc)
		b.WriteString("| column | type | null | unit | since | meaning |\n|---|---|---|---|---|---|\n")
		for _, c := range t.Columns {
			null := ""
			if c.Nullable {
				null = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %d | %s |\n", c.Name, c.Type, null, c.Unit, c.Since,
				strings.ReplaceAll(c.Doc, "|", "\\|"))
		}
	}
	return b.String()
}

// Golden renders one table's schema as its golden file holds it.
func (t *Table) Golden() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s (schema version %d)\n", t.Name, Version)
	for _, c := range t.Columns {
		null := "not null"
		if c.Nullable {
			null = "null"
		}
		fmt.Fprintf(&b, "  %-28s %-24s %-8s since %d\n", c.Name, c.Type, null, c.Since)
	}
	return b.String()
}
