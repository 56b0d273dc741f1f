package report

import (
	"math"
	"strconv"

	"vitlab/queries"
)

// cellText is a value as the CSV gives it, NULL as "(null)".
func cellText(v any) string {
	if v == nil {
		return "(null)"
	}
	return queries.FormatValue(v)
}

// displayText is a value as the report's tables show it: as the CSV gives
// it, except floats, which keep 4 significant digits (the CSV and Parquet
// files hold every digit); NULL is empty.
func displayText(v any) string {
	if f, ok := v.(float64); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if len(s) <= 8 {
			return s
		}
		a := math.Abs(f)
		switch {
		case a == 0:
			return "0"
		case a >= 1e6 || a < 1e-4:
			return strconv.FormatFloat(f, 'g', 4, 64)
		default:
			digits := max(0, 3-int(math.Floor(math.Log10(a))))
			return strconv.FormatFloat(f, 'f', digits, 64)
		}
	}
	return queries.FormatValue(v)
}
