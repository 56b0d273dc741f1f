-- name: nsys_mem_size_sum
-- description: GPU memory operations of each run summed by size per operation, as `nsys stats --report cuda_gpu_mem_size_sum` prints them (MB = 1e6 bytes).
-- inputs: memcpy_ops, memset_ops
-- param: batch = null  -- only this batch id (every batch when null)
-- param: run = null  -- only this run id (every run when null)
--
-- One row per (batch_id, run_id, operation), in nsys's order within a run:
-- total bytes descending (ties by operation). Sizes are in MB of 1e6 bytes
-- rounded to 3 decimals as nsys prints them. Exports older than nsys 2022.4
-- are summarised too (nsys skips them; see nsys_mem_time_sum).

with

copies as (
    select batch_id, run_id, operation, bytes from memcpy_ops
),

memsets as (
    select batch_id, run_id, operation, bytes from memset_ops
),

memops as (
    select * from copies
    union all
    select * from memsets
),

selected as (
    select * from memops
    where (getvariable('batch') is null or batch_id = getvariable('batch'))
      and (getvariable('run') is null or run_id = getvariable('run'))
),

summary as (
    select
        batch_id,
        run_id,
        operation,
        sum(bytes) as total_b,
        count(*) as ops,
        avg(bytes) as avg_b,
        median(bytes) as med_b,
        min(bytes) as min_b,
        max(bytes) as max_b,
        coalesce(stddev_samp(bytes), 0) as stddev_b
    from selected
    group by batch_id, run_id, operation
),

final as (
    select
        batch_id,
        run_id,
        nsys_mb(total_b)::decimal(20, 3) as "Total (MB)",
        ops as "Count",
        nsys_mb(avg_b)::decimal(20, 3) as "Avg (MB)",
        nsys_mb(med_b)::decimal(20, 3) as "Med (MB)",
        nsys_mb(min_b)::decimal(20, 3) as "Min (MB)",
        nsys_mb(max_b)::decimal(20, 3) as "Max (MB)",
        nsys_mb(stddev_b)::decimal(20, 3) as "StdDev (MB)",
        operation as "Operation"
    from summary
    order by batch_id, run_id, total_b desc, operation
)

select * from final
