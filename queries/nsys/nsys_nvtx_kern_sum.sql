-- name: nsys_nvtx_kern_sum
-- description: CUDA kernels of each run grouped by the NVTX ranges around their launch, as `nsys stats --report nvtx_kern_sum` prints them.
-- inputs: kernel_launches, nvtx_events, api_calls
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

traced as (
    select l.*
    from launches as l
    semi join nvtx_runs as n
        on n.batch_id = l.batch_id and n.run_id = l.run_id
    semi join api_runs as a
        on a.batch_id = l.batch_id and a.run_id = l.run_id
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
        -- a kernel execution: one per stream and start time
        (device_id, stream_id, start, "end", correlation_id) as kernel_key,
        duration_ns,
        case getvariable('kernel_name')
            when 'demangled' then demangled_name
            when 'short' then short_name
            when 'mangled' then coalesce(mangled_name, demangled_name)
            else error('param kernel_name must be demangled, short or mangled, not ' || getvariable('kernel_name'))
        end as kernel
    from traced
    where (getvariable('batch') is null or batch_id = getvariable('batch'))
      and (getvariable('run') is null or run_id = getvariable('run'))
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
        sum(duration_ns) as total_ns,
        avg(duration_ns) as avg_ns,
        median(duration_ns) as med_ns,
        min(duration_ns) as min_ns,
        max(duration_ns) as max_ns,
        coalesce(stddev_samp(duration_ns), 0) as stddev_ns
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
        total_ns::bigint as "Total Time (ns)",
        nsys_round(avg_ns, 1)::decimal(20, 1) as "Avg (ns)",
        nsys_round(med_ns, 1)::decimal(20, 1) as "Med (ns)",
        min_ns as "Min (ns)",
        max_ns as "Max (ns)",
        nsys_round(stddev_ns, 1)::decimal(20, 1) as "StdDev (ns)",
        kernel as "Kernel Name"
    from summary
    order by batch_id, run_id, range_name nulls first, api_pid nulls first, api_tid nulls first, total_ns desc, kernel
)

select * from final
