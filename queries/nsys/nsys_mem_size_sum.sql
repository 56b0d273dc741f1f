-- name: nsys_mem_size_sum
-- description: GPU memory operations of each run summed by size per operation, as `nsys stats --report cuda_gpu_mem_size_sum` prints them (MB = 1e6 bytes).
-- inputs: memcpy_ops, memset_ops
-- derive: per-batch
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
    where run_selected(batch_id, run_id)
),

summary as (
    select
        batch_id,
        run_id,
        operation,
        group_stats(bytes) as s
    from selected
    group by batch_id, run_id, operation
),

final as (
    select
        batch_id,
        run_id,
        nsys_mb3(s.total) as "Total (MB)",
        s.n as "Count",
        nsys_mb3(s.avg) as "Avg (MB)",
        nsys_mb3(s.med) as "Med (MB)",
        nsys_mb3(s.min) as "Min (MB)",
        nsys_mb3(s.max) as "Max (MB)",
        nsys_mb3(s.stddev) as "StdDev (MB)",
        operation as "Operation"
    from summary
    order by batch_id, run_id, s.total desc, operation
)

select * from final
