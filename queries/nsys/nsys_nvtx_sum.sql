-- name: nsys_nvtx_sum
-- description: NVTX push/pop and start/end ranges of each run summed by name and style, as `nsys stats --report nvtx_sum` prints them.
-- inputs: nvtx_ranges
-- param: batch = null  -- only this batch id (every batch when null)
-- param: run = null  -- only this run id (every run when null)
--
-- One row per (batch_id, run_id, range name, style), in nsys's order within
-- a run: total time descending (ties by name, style). Range is
-- "<domain>:<name>"; a range never closed lasts until the run's last NVTX
-- timestamp (nvtx_ranges.duration_ns). Marks and domain events are not
-- ranges and are left out.

with

ranges as (
    select * from nvtx_ranges
),

selected as (
    select batch_id, run_id, full_name, style, duration_ns
    from ranges
    where (getvariable('batch') is null or batch_id = getvariable('batch'))
      and (getvariable('run') is null or run_id = getvariable('run'))
),

summary as (
    select
        batch_id,
        run_id,
        full_name,
        style,
        sum(duration_ns) as total_ns,
        count(*) as instances,
        avg(duration_ns) as avg_ns,
        median(duration_ns) as med_ns,
        min(duration_ns) as min_ns,
        max(duration_ns) as max_ns,
        coalesce(stddev_samp(duration_ns), 0) as stddev_ns
    from selected
    group by batch_id, run_id, full_name, style
),

final as (
    select
        batch_id,
        run_id,
        nsys_round(100.0 * total_ns::double / sum(total_ns) over (partition by batch_id, run_id), 1)::decimal(4, 1) as "Time (%)",
        total_ns::bigint as "Total Time (ns)",
        instances as "Instances",
        nsys_round(avg_ns, 1)::decimal(20, 1) as "Avg (ns)",
        nsys_round(med_ns, 1)::decimal(20, 1) as "Med (ns)",
        min_ns as "Min (ns)",
        max_ns as "Max (ns)",
        nsys_round(stddev_ns, 1)::decimal(20, 1) as "StdDev (ns)",
        style as "Style",
        full_name as "Range"
    from summary
    order by batch_id, run_id, total_ns desc, full_name, style
)

select * from final
