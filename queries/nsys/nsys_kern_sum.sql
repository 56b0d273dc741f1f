-- name: nsys_kern_sum
-- description: CUDA kernels of each run summed by name, as `nsys stats --report cuda_gpu_kern_sum` prints them.
-- inputs: kernel_ops
-- derive: per-batch
-- param: batch = null  -- only this batch id (every batch when null)
-- param: run = null  -- only this run id (every run when null)
-- param: kernel_name = 'demangled' | 'short' | 'mangled'  -- kernel name to sum by: demangled (nsys's default), short (nsys's :base) or mangled (nsys's :mangled; demangled where the export has no mangled name)
--
-- One row per (batch_id, run_id, kernel name), in nsys's order within a run:
-- total time descending, then instances, then name. Time (%) is the kernel's
-- share of the run's total kernel time; Med is the mean of the two middle
-- durations for an even count; StdDev is the sample standard deviation
-- (0 for a single instance).

with

kernels as (
    select * from kernel_ops
),

selected as (
    select
        batch_id,
        run_id,
        duration_ns,
        kernel_name_of(demangled_name, short_name, mangled_name) as name
    from kernels
    where run_selected(batch_id, run_id)
),

summary as (
    select
        batch_id,
        run_id,
        name,
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
        s.n as "Instances",
        nsys_1dp(s.avg) as "Avg (ns)",
        nsys_1dp(s.med) as "Med (ns)",
        s.min as "Min (ns)",
        s.max as "Max (ns)",
        nsys_1dp(s.stddev) as "StdDev (ns)",
        name as "Name"
    from summary
    order by batch_id, run_id, s.total desc, s.n, name
)

select * from final
