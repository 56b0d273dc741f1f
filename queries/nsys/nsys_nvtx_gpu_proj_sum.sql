-- name: nsys_nvtx_gpu_proj_sum
-- description: NVTX ranges of each run projected onto the GPU, summed by name and style, as `nsys stats --report nvtx_gpu_proj_sum` prints them.
-- inputs: nvtx_gpu_proj
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
    where (getvariable('batch') is null or batch_id = getvariable('batch'))
      and (getvariable('run') is null or run_id = getvariable('run'))
),

summary as (
    select
        batch_id,
        run_id,
        full_name,
        style,
        sum(proj_ns) as total_proj_ns,
        sum(range_ns) as total_range_ns,
        count(*) as instances,
        avg(proj_ns) as avg_ns,
        median(proj_ns) as med_ns,
        min(proj_ns) as min_ns,
        max(proj_ns) as max_ns,
        coalesce(stddev_samp(proj_ns), 0) as stddev_ns,
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
        total_proj_ns::bigint as "Total Proj Time (ns)",
        total_range_ns::bigint as "Total Range Time (ns)",
        instances as "Range Instances",
        nsys_round(avg_ns, 1)::decimal(20, 1) as "Proj Avg (ns)",
        nsys_round(med_ns, 1)::decimal(20, 1) as "Proj Med (ns)",
        min_ns as "Proj Min (ns)",
        max_ns as "Proj Max (ns)",
        nsys_round(stddev_ns, 1)::decimal(20, 1) as "Proj StdDev (ns)",
        total_ops::bigint as "Total GPU Ops",
        nsys_round(avg_ops, 1)::decimal(20, 1) as "Avg GPU Ops",
        nsys_round(avg_depth, 1)::decimal(20, 1) as "Avg Range Lvl",
        nsys_round(avg_children, 1)::decimal(20, 1) as "Avg Num Child"
    from summary
    order by batch_id, run_id, total_proj_ns desc, full_name, style
)

select * from final
