package ingest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"vitlab/schemas"
)

// Labels are the --label k=v pairs of an ingest. A key that is a column of
// table runs sets that column, with the column's type, on every run; every
// label also goes into runs.labels and batches.labels as a JSON object.
type Labels struct {
	pairs   map[string]string
	columns map[string]any // typed values of keys that are runs columns
}

// ingestColumns are runs columns that ingest fills itself; no label may set
// them.
var ingestColumns = map[string]bool{
	"batch_id": true, "run_id": true, "status": true, "error": true, "warnings": true,
	"labels": true, "source_file": true, "export_sha256": true, "export_bytes": true,
	"session_start_utc_ns": true, "nsys_version": true, "export_schema": true,
	"kernels": true, "memcpys": true, "memsets": true, "cuda_api": true, "nvtx": true, "gpu_samples": true,
	"requested": true, "mismatch": true,
}

// ParseLabels parses k=v pairs. A key naming a runs column gets that
// column's type (integers, floats, strings, RFC 3339 times); a bad value,
// an empty key, a key given twice or one naming a column that ingest fills
// itself is a *UsageError naming the label.
func ParseLabels(kvs []string) (Labels, error) {
	l := Labels{pairs: map[string]string{}, columns: map[string]any{}}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return Labels{}, usagef("--label %q: want key=value", kv)
		}
		if _, dup := l.pairs[k]; dup {
			return Labels{}, usagef("--label %s: given twice", k)
		}
		l.pairs[k] = v
		i := schemas.Runs.Index(k)
		if i < 0 {
			continue
		}
		if ingestColumns[k] {
			return Labels{}, usagef("--label %s: runs.%s is filled by ingest; pick another key", k, k)
		}
		val, err := parseColumnValue(schemas.Runs.Columns[i].Type, v)
		if err != nil {
			return Labels{}, usagef("--label %s=%s: runs.%s is %s: %v", k, v, k, typeName(schemas.Runs.Columns[i].Type), err)
		}
		l.columns[k] = val
	}
	return l, nil
}

func parseColumnValue(t arrow.DataType, v string) (any, error) {
	switch t.ID() {
	case arrow.STRING:
		return v, nil
	case arrow.INT32:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return nil, numErr(err)
		}
		return int32(n), nil
	case arrow.INT64:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, numErr(err)
		}
		return n, nil
	case arrow.FLOAT64:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, numErr(err)
		}
		return f, nil
	case arrow.TIMESTAMP:
		ts, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("want an RFC 3339 time like 2025-01-02T15:04:05Z")
		}
		return ts, nil
	}
	return nil, fmt.Errorf("labels cannot set a %s column", t)
}

func numErr(err error) error {
	if ne, ok := err.(*strconv.NumError); ok {
		return ne.Err
	}
	return err
}

func typeName(t arrow.DataType) string {
	switch t.ID() {
	case arrow.INT32, arrow.INT64:
		return "an integer"
	case arrow.FLOAT64:
		return "a number"
	case arrow.TIMESTAMP:
		return "a time"
	}
	return t.String()
}

// Len returns the number of labels.
func (l Labels) Len() int { return len(l.pairs) }

// Columns returns the runs columns the labels set.
func (l Labels) Columns() []string {
	cols := make([]string, 0, len(l.columns))
	for c := range l.columns {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	return cols
}

// JSON returns the labels as a JSON object with sorted keys ("{}" when
// there are none).
func (l Labels) JSON() string { return jsonObject(l.pairs) }

// merged returns base overlaid with the labels.
func (l Labels) merged(base map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range l.pairs {
		out[k] = v
	}
	return out
}

func jsonObject(m map[string]string) string {
	if m == nil {
		m = map[string]string{}
	}
	b, err := json.Marshal(m) // encoding/json sorts map keys
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return string(b)
}
