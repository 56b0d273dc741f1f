-- name: run_values
-- description: One row per usable run and metric: the run's one value of the metric (the unit of replication), with the run's clean-window stability figures.
-- inputs: usable_run_metrics, usable_runs, clean_windows, runs
--
-- The run (its own process and CUDA context) is the unit of replication:
-- each run gives one value per metric, and intervals of a configuration or
-- a comparison are over these values, never over the windows inside a run
-- (windows of one process share its context, allocator, clocks and host
-- state: they show that a run is stable, not that a result reproduces).
-- Values: clean_throughput is the median of the run's clean windows (else
-- the median of the untraced repeats the workload recorded;
-- run_throughput), energy_per_image_j the run's energy over its clean
-- windows (run_energy), the trace metrics one per run, compile_s from
-- runs. Batch latency (latency_p50/p90/p99_ms) is untraced where the run
-- has it: the median over its clean windows of each window's percentile,
-- which the workload measures as the traced one is defined (admission to
-- the completion of the batch's D2H copy, by CUDA events) without the
-- profiler's cost per launch; else (batches before clean windows recorded
-- latencies) the traced run_latency value. Only runs of usable_runs appear (status ok, not flagged by
-- settings_vs_trace, no invalid validity flag, not a copy), with their
-- metrics from usable_run_metrics: a run whose profiler overhead is beyond
-- the limit gives its untraced values (clean throughput, energy,
-- gpu_busy_untraced) but no trace-derived ones.
-- Stability of a run, on every row of the run (null without windows):
--   window_n       clean windows (or untraced repeats) behind clean_throughput
--   window_cv      their sample standard deviation / mean
--   window_spread  (max − min) / median
-- Rows with a null or non-finite value are left out.
create or replace view run_values as
with
    usable as (
        select batch_id, run_id, config_id, compile_s from usable_runs
    ),
    clean_latency as (
        -- the untraced batch latency: the workload's own percentiles of
        -- each clean window (admission to the D2H copy's completion, CUDA
        -- events, no profiler), the run's value the median over its windows
        select batch_id, run_id,
               median(latency_p50_ms) as p50, median(latency_p90_ms) as p90, median(latency_p99_ms) as p99
        from clean_windows
        where latency_p50_ms is not null
        group by batch_id, run_id
    ),
    metrics as (
        select m.* exclude (config_id, latency_p50_ms, latency_p90_ms, latency_p99_ms),
               coalesce(l.p50, m.latency_p50_ms) as latency_p50_ms,
               coalesce(l.p90, m.latency_p90_ms) as latency_p90_ms,
               coalesce(l.p99, m.latency_p99_ms) as latency_p99_ms,
               u.config_id, u.compile_s
        from usable_run_metrics as m
        join usable as u
            on u.batch_id = m.batch_id and u.run_id = m.run_id
        left join clean_latency as l
            on l.batch_id = m.batch_id and l.run_id = m.run_id
    ),
    long as (
        unpivot (
            select
                batch_id, run_id, config_id,
                clean_throughput::double as clean_throughput,
                energy_per_image_j::double as energy_per_image_j,
                traced_throughput::double as traced_throughput,
                profiler_overhead::double as profiler_overhead,
                -- gpu_busy, and gpu_busy_untraced where run_metrics_v has it
                columns('^gpu_busy(_untraced)?$')::double,
                compute_busy::double as compute_busy,
                h2d_busy::double as h2d_busy,
                d2h_busy::double as d2h_busy,
                copy_compute_overlap::double as copy_compute_overlap,
                idle::double as idle,
                h2d_link_gbps::double as h2d_link_gbps,
                h2d_effective_gbps::double as h2d_effective_gbps,
                kernels_per_image::double as kernels_per_image,
                launch_gap_p50_us::double as launch_gap_p50_us,
                tflops::double as tflops,
                peak_fraction::double as peak_fraction,
                peak_mem_bytes::double as peak_mem_bytes,
                latency_p50_ms::double as latency_p50_ms,
                latency_p90_ms::double as latency_p90_ms,
                latency_p99_ms::double as latency_p99_ms,
                seed_compute_utilisation::double as seed_compute_utilisation,
                seed_pipeline_efficiency::double as seed_pipeline_efficiency,
                seed_temporal_compression::double as seed_temporal_compression,
                seed_h2d_mib_s::double as seed_h2d_mib_s,
                compile_s::double as compile_s
            from metrics
        )
        on columns(* exclude (batch_id, run_id, config_id))
        into name metric value v
    ),
    window_values as (
        select w.batch_id, w.run_id, w.throughput as x
        from clean_windows as w
        semi join usable as u
            on u.batch_id = w.batch_id and u.run_id = w.run_id
        where w.throughput is not null
    ),
    repeat_values as (
        -- runs of batches before clean windows: the untraced repeats
        select r.batch_id, r.run_id, cast(t.x as double) as x
        from runs as r
        semi join usable as u
            on u.batch_id = r.batch_id and u.run_id = r.run_id,
        unnest(cast(json(r.clean_throughput_runs) as double[])) as t(x)
        where r.clean_throughput_runs is not null
          and not exists (select 1 from window_values as w where w.batch_id = r.batch_id and w.run_id = r.run_id)
    ),
    stability as (
        select
            batch_id,
            run_id,
            count(x) as window_n,
            stddev_samp(x) / nullif(avg(x), 0) as window_cv,
            (max(x) - min(x)) / nullif(median(x), 0) as window_spread
        from (select * from window_values union all select * from repeat_values)
        group by batch_id, run_id
    ),
    final as (
        select
            l.batch_id,
            l.run_id,
            l.config_id,
            l.metric,
            l.v,
            coalesce(s.window_n, 0) as window_n,
            s.window_cv,
            s.window_spread
        from long as l
        left join stability as s
            on s.batch_id = l.batch_id and s.run_id = l.run_id
        where l.v is not null and isfinite(l.v)
    )
select * from final;
