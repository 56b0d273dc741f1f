-- name: nsys_mem_time_sum
-- description: GPU memory operations of each run summed by time per operation, as `nsys stats --report cuda_gpu_mem_time_sum` prints them.
-- inputs: memcpy_ops, memset_ops
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
    where (getvariable('batch') is null or batch_id = getvariable('batch'))
      and (getvariable('run') is null or run_id = getvariable('run'))
),

summary as (
    select
        batch_id,
        run_id,
        operation,
        sum(duration_ns) as total_ns,
        count(*) as ops,
        avg(duration_ns) as avg_ns,
        median(duration_ns) as med_ns,
        min(duration_ns) as min_ns,
        max(duration_ns) as max_ns,
        coalesce(stddev_samp(duration_ns), 0) as stddev_ns
    from selected
    group by batch_id, run_id, operation
),

final as (
    select
        batch_id,
        run_id,
        nsys_round(100.0 * total_ns::double / sum(total_ns) over (partition by batch_id, run_id), 1)::decimal(4, 1) as "Time (%)",
        total_ns::bigint as "Total Time (ns)",
        ops as "Count",
        nsys_round(avg_ns, 1)::decimal(20, 1) as "Avg (ns)",
        nsys_round(med_ns, 1)::decimal(20, 1) as "Med (ns)",
        min_ns as "Min (ns)",
        max_ns as "Max (ns)",
        nsys_round(stddev_ns, 1)::decimal(20, 1) as "StdDev (ns)",
        operation as "Operation"
    from summary
    order by batch_id, run_id, total_ns desc, operation
)

select * from final
