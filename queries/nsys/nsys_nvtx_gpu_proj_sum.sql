-- name: nsys_nvtx_gpu_proj_sum
-- description: NVTX ranges of each run projected onto the GPU, summed by name and style, as `nsys stats --report nvtx_gpu_proj_sum` prints them.
-- inputs: nvtx_gpu_proj
-- derive: per-batch
-- param: batch = null  -- only this batch id (every batch when null)
-- param: run = null  -- only this run id (every run when null)
--
-- One row per (batch_id, run_id, range name, style) over the ranges that
-- launched GPU work, in nsys's order within a run: total projected time
-- descending (ties by name, style). Proj times span each range's first GPU
-- operation start to its last GPU operation end; Total Range Time sums the
-- ranges' host durations; GPU Ops counts API calls that launched GPU work
-- inside the range; Avg Range Lvl averages nesting depth (0 at the top);
-- Avg Num Child averages the children that launched GPU work themselves.

with

projected as (
    select * from nvtx_gpu_proj
),

selected as (
    select * from projected
    where run_selected(batch_id, run_id)
),

summary as (
    select
        batch_id,
        run_id,
        full_name,
        style,
        group_stats(proj_ns) as s,
        sum(range_ns) as total_range_ns,
        sum(gpu_ops) as total_ops,
        avg(gpu_ops) as avg_ops,
        avg(depth) as avg_depth,
        avg(child_ranges) as avg_children
    from selected
    group by batch_id, run_id, full_name, style
),

final as (
    select
        batch_id,
        run_id,
        full_name as "Range",
        style as "Style",
        s.total::bigint as "Total Proj Time (ns)",
        total_range_ns::bigint as "Total Range Time (ns)",
        s.n as "Range Instances",
        nsys_1dp(s.avg) as "Proj Avg (ns)",
        nsys_1dp(s.med) as "Proj Med (ns)",
        s.min as "Proj Min (ns)",
        s.max as "Proj Max (ns)",
        nsys_1dp(s.stddev) as "Proj StdDev (ns)",
        total_ops::bigint as "Total GPU Ops",
        nsys_1dp(avg_ops) as "Avg GPU Ops",
        nsys_1dp(avg_depth) as "Avg Range Lvl",
        nsys_1dp(avg_children) as "Avg Num Child"
    from summary
    order by batch_id, run_id, s.total desc, full_name, style
)

select * from final
