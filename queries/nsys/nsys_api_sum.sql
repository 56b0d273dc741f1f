-- name: nsys_api_sum
-- description: CUDA runtime and driver API calls of each run summed by function, as `nsys stats --report cuda_api_sum` prints them.
-- inputs: api_calls
-- derive: per-batch
-- param: batch = null  -- only this batch id (every batch when null)
-- param: run = null  -- only this run id (every run when null)
--
-- One row per (batch_id, run_id, recorded API name), in nsys's order within
-- a run: total time descending (ties by name). Name drops nsys's version
-- suffix (api_calls.function_name), so two rows may show the same Name
-- (e.g. cudaFoo and cudaFoo_v7000), as in nsys.

with

calls as (
    select * from api_calls
),

selected as (
    select batch_id, run_id, name, function_name, duration_ns
    from calls
    where run_selected(batch_id, run_id)
),

summary as (
    select
        batch_id,
        run_id,
        name,
        any_value(function_name) as function_name,
        group_stats(duration_ns) as s
    from selected
    group by batch_id, run_id, name
),

final as (
    select
        batch_id,
        run_id,
        nsys_pct(s.total, sum(s.total) over (partition by batch_id, run_id)) as "Time (%)",
        s.total::bigint as "Total Time (ns)",
        s.n as "Num Calls",
        nsys_1dp(s.avg) as "Avg (ns)",
        nsys_1dp(s.med) as "Med (ns)",
        s.min as "Min (ns)",
        s.max as "Max (ns)",
        nsys_1dp(s.stddev) as "StdDev (ns)",
        function_name as "Name"
    from summary
    order by batch_id, run_id, s.total desc, name
)

select * from final
