package queries

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestNsysRoundingMacros checks the nsys rounding macros, computed from
// the digits printf writes (fixed_decimal, nsys_round1, nsys_mb3), against
// their first definitions, which cast printf's text to DECIMAL(38, 10)
// (exact, and ~40 times slower), at every n from 0 to 9 on 130k doubles of
// every magnitude from 1e-3 to 1e16, both signs, and every exact half at
// 1, 2 and 3 decimals of a grid (the values nsys_round treats apart).
func TestNsysRoundingMacros(t *testing.T) {
	ctx := context.Background()
	w, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const values = `
create temp table rounding_values as
select ((hash(i) % 2000000)::bigint - 1000000) / 1000000.0 * pow(10, (hash(i + 7) % 20)::int - 3) as x from range(100000) as r(i)
union all select i / 4.0 - 1250 from range(10000) as r(i)
union all select i / 20.0 - 250 from range(10000) as r(i)
union all select i / 400.0 from range(10000) as r(i)
union all select unnest([0.0, -0.0, 0.05, -0.05, 0.25, -0.25, 2.25, -2.25, 9.95, 0.15, 99.95,
    91365.649999999994, 1e15 + 0.5, 123456789012.25, 1e16, -1e16, 1e-9, 5e-10])`
	if _, err := w.SQL(ctx, values); err != nil {
		t.Fatal(err)
	}
	var checks []string
	for n := range 10 {
		ref := fmt.Sprintf(`cast(
                case
                    when fmod(x * pow(2, %[2]d), 2) in (1, -1)
                        then round(cast(printf('%%.%[2]df', x) as decimal(38, 10)), %[1]d)
                    else cast(printf('%%.%[1]df', x) as decimal(38, 10))
                end
                as decimal(38, 10))`, n, n+1)
		same := fmt.Sprintf("nsys_round(x, %d) = ref", n)
		switch n {
		case 1:
			same += " and nsys_1dp(x) = ref::decimal(20, 1)" +
				" and case when abs(x) > 99.9 then true else nsys_pct(x, 100) = nsys_round(100.0 * x / 100, 1)::decimal(4, 1) end"
		case 3:
			same += " and nsys_mb(x * 1e6) = cast(printf('%.3f', x * 1e6 / 1e6) as decimal(38, 10))" +
				" and case when abs(x) > 1e13 then true else nsys_mb3(x * 1e6) = cast(printf('%.3f', x * 1e6 / 1e6) as decimal(38, 10))::decimal(20, 3) end"
		}
		checks = append(checks, fmt.Sprintf(`select %d as n, x, %s as same
from (select x, %s as ref from rounding_values)`, n, same, ref))
	}
	sql := "select count(*), count(*) filter (where not same), min(x) filter (where not same), min(n) filter (where not same)\nfrom (\n" +
		strings.Join(checks, "\nunion all\n") + "\n)"
	res, err := w.SQL(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Rows[0]
	if asInt64(r[0]) < 1_300_000 || asInt64(r[1]) != 0 {
		t.Fatalf("%v values checked, %v differ (first x %v at n = %v)", r[0], r[1], r[2], r[3])
	}
}
