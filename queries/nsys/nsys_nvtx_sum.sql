-- name: nsys_nvtx_sum
-- description: NVTX push/pop and start/end ranges of each run summed by name and style, as `nsys stats --report nvtx_sum` prints them.
-- inputs: nvtx_ranges
-- derive: per-batch
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
    where run_selected(batch_id, run_id)
),

summary as (
    select
        batch_id,
        run_id,
        full_name,
        style,
        group_stats(duration_ns) as s
    from selected
    group by batch_id, run_id, full_name, style
),

final as (
    select
        batch_id,
        run_id,
        nsys_pct(s.total, sum(s.total) over (partition by batch_id, run_id)) as "Time (%)",
        s.total::bigint as "Total Time (ns)",
        s.n as "Instances",
        nsys_1dp(s.avg) as "Avg (ns)",
        nsys_1dp(s.med) as "Med (ns)",
        s.min as "Min (ns)",
        s.max as "Max (ns)",
        nsys_1dp(s.stddev) as "StdDev (ns)",
        style as "Style",
        full_name as "Range"
    from summary
    order by batch_id, run_id, s.total desc, full_name, style
)

select * from final
