-- name: nsys_nvtx_kern_sum
-- description: CUDA kernels of each run grouped by the NVTX ranges around their launch, as `nsys stats --report nvtx_kern_sum` prints them.
-- inputs: kernel_launches, nvtx_events, api_calls
-- derive: per-batch
-- param: batch = null  -- only this batch id (every batch when null)
-- param: run = null  -- only this run id (every run when null)
-- param: kernel_name = 'demangled' | 'short' | 'mangled'  -- kernel name to sum by: demangled (nsys's default), short (nsys's :base) or mangled (nsys's :mangled; demangled where the export has no mangled name)
--
-- One row per (batch_id, run_id, range name, style, pid, tid, kernel name):
-- a kernel counts in every range around the API call that launched it on
-- the same thread (nested ranges all count it); kernels launched outside any
-- range form rows with an empty range. Order within a run as nsys: range
-- name (empty first), pid, tid, total time descending, then kernel name;
-- ties (one name in two styles) by style.
-- NVTX Inst counts the range instances, Kern Inst the kernel executions.
-- Like nsys, which skips the report for an export without NVTX or CUDA API
-- data, a run without nvtx or cuda_api rows has no rows here.

with

launches as (
    select * from kernel_launches
),

nvtx_runs as (
    select distinct batch_id, run_id from nvtx_events
),

api_runs as (
    select distinct batch_id, run_id from api_calls
),

-- the runs with both NVTX and API rows: a few rows, joined (not semi
-- joined) to the launches so the small side is the build side
traced_runs as (
    select n.batch_id, n.run_id
    from nvtx_runs as n
    join api_runs as a
        on a.batch_id = n.batch_id and a.run_id = n.run_id
),

traced as (
    select l.*
    from launches as l
    join traced_runs as t
        on t.batch_id = l.batch_id and t.run_id = l.run_id
),

selected as (
    select
        batch_id,
        run_id,
        range_id,
        range_name,
        range_style,
        api_pid,
        api_tid,
        -- a kernel execution: one per stream and start time, hashed to one
        -- BIGINT (counting distinct structs is several times slower; a
        -- collision among a group's kernels has odds of about 1e-11)
        hash(device_id, stream_id, start, "end", correlation_id) as kernel_key,
        duration_ns,
        kernel_name_of(demangled_name, short_name, mangled_name) as kernel
    from traced
    where run_selected(batch_id, run_id)
),

-- the group of a row (batch_id, run_id, range_name, range_style, api_pid,
-- api_tid, kernel) hashed to one BIGINT: the two distinct counts per group
-- then hash (group, value) pairs of two integers instead of the group's
-- text (the kernel's demangled name is often hundreds of characters);
-- on a batch of 5.1M events, one thread: 3.5 s -> 2.4 s. Rows of two
-- groups that share a hash would be summed together: summary checks that
-- every column of the group is one value and stops the query otherwise.
keyed as (
    select
        *,
        hash(batch_id, run_id, range_name, range_style, api_pid, api_tid, kernel) as group_key
    from selected
),

summary as (
    select
        min(batch_id) as batch_id,
        min(run_id) as run_id,
        min(range_name) as range_name,
        min(range_style) as range_style,
        min(api_pid) as api_pid,
        min(api_tid) as api_tid,
        min(kernel) as kernel,
        count(distinct range_id) as range_instances,
        count(distinct kernel_key) as kernel_instances,
        group_stats(duration_ns) as s,
        -- not one group: some column has two values (or a value and null)
        max(batch_id) <> min(batch_id) or max(run_id) <> min(run_id)
            or max(range_name) <> min(range_name) or count(range_name) not in (0, count(*))
            or max(range_style) <> min(range_style) or count(range_style) not in (0, count(*))
            or max(api_pid) <> min(api_pid) or count(api_pid) not in (0, count(*))
            or max(api_tid) <> min(api_tid) or count(api_tid) not in (0, count(*))
            or max(kernel) <> min(kernel) or count(kernel) not in (0, count(*)) as mixed
    from keyed
    group by group_key
),

final as (
    select
        batch_id,
        run_id,
        range_name as "NVTX Range",
        range_style as "Style",
        api_pid as "PID",
        api_tid as "TID",
        range_instances as "NVTX Inst",
        kernel_instances as "Kern Inst",
        s.total::bigint as "Total Time (ns)",
        nsys_1dp(s.avg) as "Avg (ns)",
        nsys_1dp(s.med) as "Med (ns)",
        s.min as "Min (ns)",
        s.max as "Max (ns)",
        nsys_1dp(s.stddev) as "StdDev (ns)",
        case when mixed then error('nsys_nvtx_kern_sum: two groups share a hash; report this') else kernel end as "Kernel Name"
    from summary
    order by batch_id, run_id, range_name nulls first, api_pid nulls first, api_tid nulls first, s.total desc, kernel, range_style nulls first
)

select * from final
