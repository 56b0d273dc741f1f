-- name: runs_overview
-- description: One row per run: its effective configuration, outcome, untraced and traced throughput, profiler overhead, event counts and the loader's warnings.
-- inputs: runs
-- derive: per-batch
-- param: batch = null  -- only this batch id (every batch when null)
--
-- Settings are the EFFECTIVE ones the workload recorded (runs.*), never the
-- requested ones. profiler_overhead = 1 - traced/clean throughput
-- (DESIGN.md), null when either is missing.

with

runs_in as (
    select * from runs
    where getvariable('batch') is null or batch_id = getvariable('batch')
),

final as (
    select
        batch_id,
        run_id,
        rq,
        name,
        repeat,
        status,
        patch,
        depth,
        hidden,
        resolution,
        batch_size,
        compile_mode,
        pipeline,
        queue_depth,
        preprocess,
        numa_placement,
        gpu_name,
        round(clean_throughput, 1) as clean_img_s,
        round(traced_throughput, 1) as traced_img_s,
        round(1 - traced_throughput / nullif(clean_throughput, 0), 3) as profiler_overhead,
        kernels,
        memcpys,
        nvtx,
        error,
        replace(warnings, chr(10), '; ') as warnings
    from runs_in
    order by batch_id, rq nulls last, name nulls last, repeat nulls last, run_id
)

select * from final
