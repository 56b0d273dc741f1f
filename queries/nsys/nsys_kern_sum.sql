-- name: nsys_kern_sum
-- description: CUDA kernels of each run summed by name, as `nsys stats --report cuda_gpu_kern_sum` prints them.
-- inputs: kernel_ops
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
        case getvariable('kernel_name')
            when 'demangled' then demangled_name
            when 'short' then short_name
            when 'mangled' then coalesce(mangled_name, demangled_name)
            else error('param kernel_name must be demangled, short or mangled, not ' || getvariable('kernel_name'))
        end as name
    from kernels
    where (getvariable('batch') is null or batch_id = getvariable('batch'))
      and (getvariable('run') is null or run_id = getvariable('run'))
),

summary as (
    select
        batch_id,
        run_id,
        name,
        sum(duration_ns) as total_ns,
        count(*) as instances,
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
        instances as "Instances",
        nsys_round(avg_ns, 1)::decimal(20, 1) as "Avg (ns)",
        nsys_round(med_ns, 1)::decimal(20, 1) as "Med (ns)",
        min_ns as "Min (ns)",
        max_ns as "Max (ns)",
        nsys_round(stddev_ns, 1)::decimal(20, 1) as "StdDev (ns)",
        name as "Name"
    from summary
    order by batch_id, run_id, total_ns desc, instances, name
)

select * from final
