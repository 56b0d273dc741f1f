-- name: nsys_mem_time_sum
-- description: GPU memory operations of each run summed by time per operation, as `nsys stats --report cuda_gpu_mem_time_sum` prints them.
-- inputs: memcpy_ops, memset_ops
-- derive: per-batch
-- param: batch = null  -- only this batch id (every batch when null)
-- param: run = null  -- only this run id (every run when null)
--
-- One row per (batch_id, run_id, operation): each memcpy copy kind
-- ("[CUDA memcpy Host-to-Device]" …) and "[CUDA memset]", in nsys's order
-- within a run: total time descending (ties by operation). Unlike nsys, this
-- also summarises exports older than nsys 2022.4, which lack the
-- ENUM_CUDA_MEMCPY_OPER table nsys needs: labels come from copy_kinds.

with

copies as (
    select batch_id, run_id, operation, duration_ns from memcpy_ops
),

memsets as (
    select batch_id, run_id, operation, duration_ns from memset_ops
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
        group_stats(duration_ns) as s
    from selected
    group by batch_id, run_id, operation
),

final as (
    select
        batch_id,
        run_id,
        nsys_pct(s.total, sum(s.total) over (partition by batch_id, run_id)) as "Time (%)",
        s.total::bigint as "Total Time (ns)",
        s.n as "Count",
        nsys_1dp(s.avg) as "Avg (ns)",
        nsys_1dp(s.med) as "Med (ns)",
        s.min as "Min (ns)",
        s.max as "Max (ns)",
        nsys_1dp(s.stddev) as "StdDev (ns)",
        operation as "Operation"
    from summary
    order by batch_id, run_id, s.total desc, operation
)

select * from final
