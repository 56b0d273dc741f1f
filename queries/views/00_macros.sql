-- views/00_macros.sql: macros shared by every layer, defined once. Files of
-- views/ run in file-name order after the base views (one per warehouse
-- table: batches, runs, devices, kernels, memcpys, memsets, cuda_api, nvtx,
-- gpu_samples, clean_windows; see schemas/SCHEMA.md), then metrics/ in the
-- order of their -- inputs:. Times are int64 ns since the export's session
-- start; every view keeps batch_id and run_id so that runs never mix.

-- run_selected(batch_id, run_id): the saved queries' batch/run filter,
-- true when the row's batch and run are the ones the params batch and run
-- ask for (every batch / run when a param is null). A query that calls it
-- reads those two params.
create or replace macro run_selected(b, r) as
    (getvariable('batch') is null or b = getvariable('batch'))
    and (getvariable('run') is null or r = getvariable('run'));

-- batch_selected(batch_id): the batch filter alone.
create or replace macro batch_selected(b) as
    getvariable('batch') is null or b = getvariable('batch');

-- kernel_name_of(demangled, short, mangled): the kernel name the
-- kernel_name param asks for, as nsys's kernel reports name kernels:
-- demangled (default), short (:base) or mangled (:mangled; demangled where
-- the export has no mangled name).
create or replace macro kernel_name_of(demangled, short, mangled) as
    case getvariable('kernel_name')
        when 'demangled' then demangled
        when 'short' then short
        when 'mangled' then coalesce(mangled, demangled)
        else error('param kernel_name must be demangled, short or mangled, not ' || getvariable('kernel_name'))
    end;

-- group_stats(x): the summary statistics of x over a group, as one struct:
-- total (sum), n (count), avg, med (median: the mean of the two middle
-- values for an even count), min, max, stddev (sample standard deviation,
-- 0 for a single value). Use it in an aggregate: select k, group_stats(x)
-- as s ... group by k, then s.total, s.med ...
create or replace macro group_stats(x) as
    struct_pack(
        total := sum(x),
        n := count(x),
        avg := avg(x),
        med := median(x),
        min := min(x),
        max := max(x),
        stddev := coalesce(stddev_samp(x), 0)
    );

-- fixed_decimal(s, n): s, the text of a number with exactly n decimals
-- (0 <= n <= 10, as printf's %.nf writes it), as a DECIMAL(38, 10): the
-- same value as cast(s as decimal(38, 10)), from its digits read as an
-- integer and scaled by 10^-n, both exact. DuckDB parses text into a
-- 128-bit DECIMAL ~40 times slower than into an integer: the 1-decimal
-- columns of the nsys summaries cost a quarter of a derive pass that way.
create or replace macro fixed_digits(s) as cast(replace(s, '.', '') as hugeint)::decimal(38, 0);
create or replace macro fixed_decimal(s, n) as
    case n
        when 0 then cast(fixed_digits(s) as decimal(38, 10))
        when 1 then cast(fixed_digits(s) * 0.1 as decimal(38, 10))
        when 2 then cast(fixed_digits(s) * 0.01 as decimal(38, 10))
        when 3 then cast(fixed_digits(s) * 0.001 as decimal(38, 10))
        when 4 then cast(fixed_digits(s) * 0.0001 as decimal(38, 10))
        when 5 then cast(fixed_digits(s) * 0.00001 as decimal(38, 10))
        when 6 then cast(fixed_digits(s) * 0.000001 as decimal(38, 10))
        when 7 then cast(fixed_digits(s) * 0.0000001 as decimal(38, 10))
        when 8 then cast(fixed_digits(s) * 0.00000001 as decimal(38, 10))
        when 9 then cast(fixed_digits(s) * 0.000000001 as decimal(38, 10))
        when 10 then cast(fixed_digits(s) * 0.0000000001 as decimal(38, 10))
        else error('fixed_decimal: n must be 0 to 10, not ' || n)
    end;

-- nsys_round(x, n): the double x rounded to n decimals (0 <= n <= 9) as
-- nsys stats rounds (SQLite's round): on the exact binary value of x,
-- halves away from zero; a DECIMAL(38, 10). DuckDB's round(x, n) scales by
-- 10^n in floating point first, which turns 91365.649999999994 (the double
-- nearest 1827313 / 20) into a half and rounds it up to 91365.7 where nsys
-- prints 91365.6. printf rounds the exact binary value, but halves to even;
-- so printf, except where x is exactly a half at n decimals (x * 2^(n+1) an
-- odd integer, e.g. 2.25 at n = 1): those are printed exactly with n + 1
-- decimals and rounded away from zero in DECIMAL arithmetic.
create or replace macro nsys_round(x, n) as
    cast(
        case
            when fmod(x * pow(2, n + 1), 2) in (1, -1)
                then round(fixed_decimal(printf('%.' || (n + 1) || 'f', x), n + 1), n)
            else fixed_decimal(printf('%.' || n || 'f', x), n)
        end
        as decimal(38, 10));

-- nsys_round1(x): nsys_round(x, 1) as a DECIMAL(38, 1), the same value,
-- computed at that scale: a DECIMAL(38, 10) cast to another scale costs
-- ~2 us a value (nsys_1dp through nsys_round cost more than the rest of
-- nsys_nvtx_kern_sum's summary).
create or replace macro nsys_round1(x) as
    case
        when fmod(x * 4, 2) in (1, -1) then round(fixed_digits(printf('%.2f', x)) * 0.01, 1)
        else fixed_digits(printf('%.1f', x)) * 0.1
    end;

-- nsys_mb(bytes): bytes in MB (1e6 bytes) to 3 decimals as nsys stats prints
-- memory sizes: the exact binary value of bytes / 1e6 correctly rounded,
-- halves to even (Python's string formatting); a DECIMAL(38, 10).
create or replace macro nsys_mb(bytes) as
    fixed_decimal(printf('%.3f', bytes / 1e6), 3);

-- nsys_1dp(x): x rounded as nsys prints a 1-decimal column (Avg, Med,
-- StdDev), a DECIMAL(20, 1).
create or replace macro nsys_1dp(x) as nsys_round1(x)::decimal(20, 1);

-- nsys_pct(part, whole): part's share of whole in percent, rounded as nsys
-- prints Time (%), a DECIMAL(4, 1).
create or replace macro nsys_pct(part, whole) as
    nsys_round1(100.0 * part::double / whole)::decimal(4, 1);

-- nsys_mb3(bytes): nsys_mb as the DECIMAL(20, 3) nsys's MB columns print
-- (computed at scale 3, as nsys_round1).
create or replace macro nsys_mb3(bytes) as
    (fixed_digits(printf('%.3f', bytes / 1e6)) * 0.001)::decimal(20, 3);
