-- name: nsys_api_sum
-- description: CUDA runtime and driver API calls of each run summed by function, as `nsys stats --report cuda_api_sum` prints them.
-- inputs: api_calls
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
    where (getvariable('batch') is null or batch_id = getvariable('batch'))
      and (getvariable('run') is null or run_id = getvariable('run'))
),

summary as (
    select
        batch_id,
        run_id,
        name,
        any_value(function_name) as function_name,
        sum(duration_ns) as total_ns,
        count(*) as calls,
        avg(duration_ns) as avg_ns,
        median(duration_ns) as med_ns,
        min(duration_ns) as min_ns,
        max(duration_ns) as max_ns,
        coalesce(stddev_samp(duration_ns), 0) as stddev_ns
    from selected
    group by batch_id, run_id, name
),

final as (
    select
        batch_id,
        run_id,
        nsys_round(100.0 * total_ns::double / sum(total_ns) over (partition by batch_id, run_id), 1)::decimal(4, 1) as "Time (%)",
        total_ns::bigint as "Total Time (ns)",
        calls as "Num Calls",
        nsys_round(avg_ns, 1)::decimal(20, 1) as "Avg (ns)",
        nsys_round(med_ns, 1)::decimal(20, 1) as "Med (ns)",
        min_ns as "Min (ns)",
        max_ns as "Max (ns)",
        nsys_round(stddev_ns, 1)::decimal(20, 1) as "StdDev (ns)",
        function_name as "Name"
    from summary
    order by batch_id, run_id, total_ns desc, name
)

select * from final
