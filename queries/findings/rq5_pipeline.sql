-- name: rq5_pipeline
-- description: RQ5: sync against async pipelines, queue depth and CPU against GPU preprocessing: untraced throughput with its interval, per-batch latency p50/p90/p99, copy/compute overlap and GPU busy.
-- inputs: run_config, config_summary, config_stats, usable_runs, run_prefetch, config_headroom
-- rq: rq5
-- chart: line x=queue_depth y=clean_throughput series=variant title=Untraced throughput (img/s) by queue depth (sync drawn at depth 1)
-- chart: line x=queue_depth y=latency_p99_ms series=variant logy title=Per-batch latency p99 (ms) by queue depth
-- chart: bar x=label y=copy_compute_overlap title=Share of copy time hidden under kernels (traced)
-- chart: bar x=label y=bound_fraction title=Fraction of the pipeline's ceiling reached (the slower of its forward-only and preprocessing-only rates, measured in each run)
--
-- One row per configuration of the rq5 plan (run_config rows with
-- rq = 'rq5'), ordered by GPU, model, batch size, preprocessing, pipeline
-- (sync first), queue depth.
-- Columns:
--   config_id, gpu_name, model ('p<patch> d<depth> h<hidden>'), batch_size,
--   pipeline (sync | async | peer: the plain torch DataLoader loop, the
--   reference), queue_depth (the peer's prefetch_factor), preprocess (cpu |
--   gpu), variant ('<pipeline> <preprocess>': the chart series), label
--   ('sync gpu', 'async q4 cpu', 'peer DataLoader prefetch 2', ...); when
--   the rows hold more than one batch size, both end in ' b<batch>', so
--   that a chart's series and bars never join two batch sizes;
--   clean_throughput, clean_throughput_lo, clean_throughput_hi,
--   clean_throughput_n   untraced img/s (median run, 95 % t interval over
--     the runs; null interval with one run);
--   vs_sync   clean_throughput / the sync configuration's with the same
--     model, batch size and preprocessing (1 for sync itself);
--   latency_p50_ms, latency_p90_ms, latency_p99_ms   per-batch latency,
--     admission -> completion of the batch's D2H, untraced: the workload's
--     CUDA-event percentiles of each clean window, the run's value their
--     median (metrics/run_values.sql; the traced window's
--     metrics/run_latency.sql only for runs without them); median over the
--     runs, p50 and p99 also with their interval: _lo, _hi. The peer's
--     latency starts after its DataLoader, so it covers no preprocessing
--     and is not comparable with vitlab's;
--   gpu_busy, copy_compute_overlap (|U kernels n U copies| / |U copies|),
--     h2d_busy   traced-window fractions, median over the runs;
--   traced_throughput   img/s under nsys (median over runs), for reading
--     the trace metrics;
--   prefetch_fraction   share of the batch pairs k, k+1 in the traced
--     window where some preprocessing of k+1 (CPU workers, or its upload
--     and transform on the GPU) overlaps the GPU forward of k
--     (metrics/run_prefetch.sql; median over the runs): does the pipeline
--     run ahead.
-- Runs: status ok and not in runs_flagged (config_stats).
-- The forward-only and preprocessing-only rates are measured in every run's
-- own process after its clean windows (collectors/workload/README.md,
-- Headroom).

-- forward_bound_img_s, prep_bound_img_s, bound_img_s, bound_fraction,
--   limiting_stage   how much of the throughput is the model
--     (metrics/config_headroom.sql, from metrics/run_headroom.sql): the
--     forward-only bound (same model, batch, resolution and compile mode,
--     input already on the GPU), the preprocessing path's rate alone, the
--     pipeline's ceiling least(forward, prep), clean_throughput / that ceiling,
--     and the stage that limits it; null for runs collected before the
--     workload measured them.
--   in_flight_occupancy   Little's law over the clean windows:
--     throughput x median latency / (batches in flight x batch); near 1 the
--     in-flight slots are always busy, and a run below 90 % of its ceiling
--     is held by its depth (limiting_stage 'batches_in_flight').
with

configs as (
    select distinct config_id from run_config
    where rq = 'rq5'
),

summary as (
    select * from config_summary
    where config_id in (select config_id from configs)
),

stats as (
    select * from config_stats
),

per_config as (
    select
        config_id,
        max(median) filter (where metric = 'latency_p90_ms') as latency_p90_ms,
        max(median) filter (where metric = 'gpu_busy') as gpu_busy,
        max(median) filter (where metric = 'copy_compute_overlap') as copy_compute_overlap,
        max(median) filter (where metric = 'h2d_busy') as h2d_busy,
        max(median) filter (where metric = 'traced_throughput') as traced_throughput
    from stats
    group by config_id
),

prefetch as (
    select u.config_id, median(p.prefetch_fraction) as prefetch_fraction
    from usable_runs as u
    join run_prefetch as p
        on p.batch_id = u.batch_id and p.run_id = u.run_id
    group by u.config_id
),

sync as (
    select * from summary
    where pipeline = 'sync'
),

joined as (
    select
        s.*,
        p.latency_p90_ms,
        p.gpu_busy as trace_gpu_busy,
        p.copy_compute_overlap,
        p.h2d_busy,
        p.traced_throughput,
        f.prefetch_fraction,
        y.clean_throughput as sync_throughput
    from summary as s
    left join per_config as p
        on p.config_id = s.config_id
    left join prefetch as f
        on f.config_id = s.config_id
    left join sync as y
        on  y.gpu_name is not distinct from s.gpu_name
        and y.patch is not distinct from s.patch
        and y.depth is not distinct from s.depth
        and y.hidden is not distinct from s.hidden
        and y.resolution is not distinct from s.resolution
        and y.batch_size is not distinct from s.batch_size
        and y.compile_mode is not distinct from s.compile_mode
        and y.preprocess is not distinct from s.preprocess
    qualify row_number() over (partition by s.config_id order by y.config_id) = 1
),

final as (
    select
        config_id,
        gpu_name,
        'p' || patch || ' d' || depth || ' h' || hidden as model,
        batch_size,
        pipeline,
        queue_depth,
        preprocess,
        pipeline || ' ' || preprocess
            || case when min(batch_size) over () <> max(batch_size) over () then ' b' || batch_size else '' end as variant,
        case pipeline
            when 'async' then 'async q' || queue_depth || ' ' || preprocess
            when 'peer' then 'peer DataLoader prefetch ' || queue_depth
            else pipeline || ' ' || preprocess
        end
            || case when min(batch_size) over () <> max(batch_size) over () then ' b' || batch_size else '' end as label,
        round(clean_throughput, 1) as clean_throughput,
        round(clean_throughput_lo, 1) as clean_throughput_lo,
        round(clean_throughput_hi, 1) as clean_throughput_hi,
        clean_throughput_n,
        round(clean_throughput / nullif(sync_throughput, 0), 3) as vs_sync,
        round(latency_p50_ms, 3) as latency_p50_ms,
        round(latency_p50_ms_lo, 3) as latency_p50_lo,
        round(latency_p50_ms_hi, 3) as latency_p50_hi,
        round(latency_p90_ms, 3) as latency_p90_ms,
        round(latency_p99_ms, 3) as latency_p99_ms,
        round(latency_p99_ms_lo, 3) as latency_p99_lo,
        round(latency_p99_ms_hi, 3) as latency_p99_hi,
        round(trace_gpu_busy, 4) as gpu_busy,
        round(copy_compute_overlap, 4) as copy_compute_overlap,
        round(h2d_busy, 4) as h2d_busy,
        round(traced_throughput, 1) as traced_throughput,
        round(prefetch_fraction, 3) as prefetch_fraction,
        round(h.forward_bound_img_s, 1) as forward_bound_img_s,
        round(h.prep_bound_img_s, 1) as prep_bound_img_s,
        round(h.bound_img_s, 1) as bound_img_s,
        round(h.bound_fraction, 3) as bound_fraction,
        round(h.in_flight_occupancy, 3) as in_flight_occupancy,
        h.limiting_stage
    from joined
    left join config_headroom as h using (config_id)
    order by gpu_name, patch, depth, hidden, resolution, batch_size, preprocess,
        case pipeline when 'sync' then 0 else 1 end, queue_depth, config_id
)

select * from final
