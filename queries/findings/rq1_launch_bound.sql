-- name: rq1_launch_bound
-- description: RQ1 and beyond: is each configuration launch-bound, compute-bound or mixed? Kernels per image, launch gap, GPU time per kernel and GPU busy, with the rule that classifies them.
-- inputs: usable_runs, run_metrics_v
-- rq: rq1
-- param: launch_queued_gap_us = 20.0  -- median launch gap (kernel start - end of its launch call, us) at or above which kernels wait in a queue: the CPU runs ahead of the GPU
-- param: compute_bound_busy = 0.8  -- GPU busy (interval union over the traced window) at or above which a queued configuration is compute-bound
-- chart: scatter x=kernel_us y=gpu_busy series=bound logx title=GPU busy against mean GPU time per kernel (us), by class
-- chart: scatter x=launch_gap_p50_us y=gpu_busy series=bound logx title=GPU busy against the median launch gap (us): queued kernels sit right of the rule
--
-- One row per configuration with traced runs (every rq, not only rq1:
-- compile modes and pipelines change launch-boundness too), ordered by rq,
-- GPU, patch, depth, hidden, resolution, batch size, compile mode, pipeline.
-- Per-run values come from run_metrics_v; each column is the median over
-- the configuration's successful runs (runs = how many; failed and
-- unavailable runs, and runs that runs_flagged flags, are left out).
--
-- The rule (bound):
--   launch-bound   launch_gap_p50_us <  launch_queued_gap_us and gpu_busy <  compute_bound_busy
--                  (the median kernel finds an empty queue: it starts as
--                  soon as the CPU has launched it, and the GPU idles
--                  between launches);
--   compute-bound  launch_gap_p50_us >= launch_queued_gap_us and gpu_busy >= compute_bound_busy
--                  (kernels queue behind each other: the CPU is ahead and
--                  the GPU is busy most of the window);
--   mixed          anything else: a queue forms but the GPU still idles
--                  (host-side preprocessing, synchronisation, copies), or
--                  kernels start at once yet keep the GPU busy;
--   no data        no launch gap or GPU busy (no kernels, no timed window).
-- Under nsys every launch costs more than without it, so the traced window
-- leans towards launch-bound; gpu_busy_untraced_est = min(1, gpu_busy x
-- clean / traced throughput) estimates the busy fraction without the
-- profiler, assuming kernel durations are unchanged by tracing. In CUDA
-- graph modes one graph launch releases many kernels, so their launch gap
-- measures the wait behind the rest of the graph.
-- Columns: config_id, rq, gpu_name, patch, depth, hidden, resolution,
--   batch_size, compile_mode, pipeline, queue_depth, preprocess, runs,
--   kernels_per_image, launch_gap_p50_us, kernel_us (GPU busy time per
--   kernel = gpu_busy x window / kernels, us), gpu_busy,
--   gpu_busy_untraced_est, clean_throughput, traced_throughput (img/s),
--   bound, rule (the comparison that decided it, with the thresholds).

with

config as (
    select * from usable_runs
),

metrics as (
    select * from run_metrics_v
),

per_run as (
    select
        m.config_id,
        m.run_id,
        m.kernels_per_image,
        m.launch_gap_p50_us,
        m.gpu_busy,
        m.clean_throughput,
        m.traced_throughput,
        m.gpu_busy * m.window_ns / 1e3 / nullif(m.kernels_per_image * m.images, 0) as kernel_us,
        least(1.0, m.gpu_busy * m.clean_throughput / nullif(m.traced_throughput, 0)) as gpu_busy_untraced_est
    from metrics as m
    join config as c
        on c.batch_id = m.batch_id and c.run_id = m.run_id
),

per_config as (
    select
        config_id,
        count(*) as runs,
        median(kernels_per_image) as kernels_per_image,
        median(launch_gap_p50_us) as launch_gap_p50_us,
        median(kernel_us) as kernel_us,
        median(gpu_busy) as gpu_busy,
        median(gpu_busy_untraced_est) as gpu_busy_untraced_est,
        median(clean_throughput) as clean_throughput,
        median(traced_throughput) as traced_throughput
    from per_run
    group by config_id
),

settings as (
    select
        config_id,
        any_value(rq) as rq,
        any_value(gpu_name) as gpu_name,
        any_value(patch) as patch,
        any_value(depth) as depth,
        any_value(hidden) as hidden,
        any_value(resolution) as resolution,
        any_value(batch_size) as batch_size,
        any_value(compile_mode) as compile_mode,
        any_value(pipeline) as pipeline,
        any_value(queue_depth) as queue_depth,
        any_value(preprocess) as preprocess
    from config
    group by config_id
),

classified as (
    select
        p.*,
        case
            when p.launch_gap_p50_us is null or p.gpu_busy is null then 'no data'
            when p.launch_gap_p50_us < getvariable('launch_queued_gap_us')
                and p.gpu_busy < getvariable('compute_bound_busy') then 'launch-bound'
            when p.launch_gap_p50_us >= getvariable('launch_queued_gap_us')
                and p.gpu_busy >= getvariable('compute_bound_busy') then 'compute-bound'
            else 'mixed'
        end as bound,
        case
            when p.launch_gap_p50_us is null or p.gpu_busy is null then 'no launch gap or GPU busy'
            else
                'gap ' || printf('%.1f', p.launch_gap_p50_us)
                || (case when p.launch_gap_p50_us < getvariable('launch_queued_gap_us') then ' < ' else ' >= ' end)
                || printf('%g', getvariable('launch_queued_gap_us')) || ' us, busy '
                || printf('%.3f', p.gpu_busy)
                || (case when p.gpu_busy < getvariable('compute_bound_busy') then ' < ' else ' >= ' end)
                || printf('%g', getvariable('compute_bound_busy'))
        end as rule
    from per_config as p
),

final as (
    select
        c.config_id,
        s.rq,
        s.gpu_name,
        s.patch,
        s.depth,
        s.hidden,
        s.resolution,
        s.batch_size,
        s.compile_mode,
        s.pipeline,
        s.queue_depth,
        s.preprocess,
        c.runs,
        round(c.kernels_per_image, 2) as kernels_per_image,
        round(c.launch_gap_p50_us, 1) as launch_gap_p50_us,
        round(c.kernel_us, 2) as kernel_us,
        round(c.gpu_busy, 4) as gpu_busy,
        round(c.gpu_busy_untraced_est, 4) as gpu_busy_untraced_est,
        round(c.clean_throughput, 1) as clean_throughput,
        round(c.traced_throughput, 1) as traced_throughput,
        c.bound,
        c.rule
    from classified as c
    join settings as s
        on s.config_id = c.config_id
    order by s.rq, s.gpu_name, s.patch, s.depth, s.hidden, s.resolution, s.batch_size,
        s.compile_mode, s.pipeline, s.queue_depth, s.preprocess, c.config_id
)

select * from final
