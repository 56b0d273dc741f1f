-- nsys_nvtx_kern_sum as it was before its groups were hashed (grouped by
-- their text), with the default params: TestNvtxKernSumHashedGroups
-- compares the saved query with it.
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
        demangled_name as kernel
    from traced
    where true
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
