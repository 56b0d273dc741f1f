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
-- name (empty first), pid, tid, total time descending, then kernel name.
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

summary as (
    select
        batch_id,
        run_id,
        range_name,
        range_style,
        api_pid,
        api_tid,
        kernel,
        count(distinct range_id) as range_instances,
        count(distinct kernel_key) as kernel_instances,
        group_stats(duration_ns) as s
    from selected
    group by batch_id, run_id, range_name, range_style, api_pid, api_tid, kernel
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
        kernel as "Kernel Name"
    from summary
    order by batch_id, run_id, range_name nulls first, api_pid nulls first, api_tid nulls first, s.total desc, kernel
)

select * from final
