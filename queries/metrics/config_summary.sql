-- name: config_summary
-- description: One row per configuration: its settings and, for each headline metric m, the median run value m, its 95 % interval over runs m_lo..m_hi and the number of runs m_n (from config_stats), with the runs' worst clean-window stability.
-- inputs: config_stats, usable_runs
--
-- Metrics: clean_throughput, gpu_busy, seed_compute_utilisation, tflops,
-- peak_mem_bytes, h2d_link_gbps, energy_per_image_j, latency_p50_ms,
-- latency_p99_ms, compile_s. Settings are those of the configuration's
-- runs (equal by construction of config_id); runs counts its ok runs not
-- flagged by runs_flagged (usable_runs). Intervals and method:
-- config_stats (the run is the unit; a 95 % t interval over runs, on log
-- values for positive metrics; null below 2 runs). window_cv_max and
-- window_spread_max are the largest clean-window CV and spread of a run
-- of the configuration (its stability, not a repeat); batches counts the
-- batches its runs come from (pooled).
create or replace view config_summary as
with
    stats as (
        select * from config_stats
    ),
    config as (
        select * from usable_runs
    ),
    settings as (
        select
            config_id,
            any_value(rq) as rq,
            any_value(gpu_name) as gpu_name,
            any_value(patch) as patch,
            any_value(depth) as depth,
            any_value(hidden) as hidden,
            any_value(heads) as heads,
            any_value(mlp) as mlp,
            any_value(resolution) as resolution,
            any_value(tokens) as tokens,
            any_value(batch_size) as batch_size,
            any_value(dtype) as dtype,
            any_value(compile_mode) as compile_mode,
            any_value(pipeline) as pipeline,
            any_value(queue_depth) as queue_depth,
            any_value(preprocess) as preprocess,
            any_value(decoder) as decoder,
            any_value(patch_embed) as patch_embed,
            any_value(numa_placement) as numa_placement,
            count(*) as runs
        from config
        group by config_id
    ),
    pivoted as (
        select
            config_id,
            max(median) filter (where metric = 'clean_throughput') as clean_throughput,
            max(ci_low) filter (where metric = 'clean_throughput') as clean_throughput_lo,
            max(ci_high) filter (where metric = 'clean_throughput') as clean_throughput_hi,
            max(n) filter (where metric = 'clean_throughput') as clean_throughput_n,
            max(median) filter (where metric = 'gpu_busy') as gpu_busy,
            max(ci_low) filter (where metric = 'gpu_busy') as gpu_busy_lo,
            max(ci_high) filter (where metric = 'gpu_busy') as gpu_busy_hi,
            max(n) filter (where metric = 'gpu_busy') as gpu_busy_n,
            max(median) filter (where metric = 'seed_compute_utilisation') as seed_compute_utilisation,
            max(ci_low) filter (where metric = 'seed_compute_utilisation') as seed_compute_utilisation_lo,
            max(ci_high) filter (where metric = 'seed_compute_utilisation') as seed_compute_utilisation_hi,
            max(n) filter (where metric = 'seed_compute_utilisation') as seed_compute_utilisation_n,
            max(median) filter (where metric = 'tflops') as tflops,
            max(ci_low) filter (where metric = 'tflops') as tflops_lo,
            max(ci_high) filter (where metric = 'tflops') as tflops_hi,
            max(n) filter (where metric = 'tflops') as tflops_n,
            max(median) filter (where metric = 'peak_mem_bytes') as peak_mem_bytes,
            max(ci_low) filter (where metric = 'peak_mem_bytes') as peak_mem_bytes_lo,
            max(ci_high) filter (where metric = 'peak_mem_bytes') as peak_mem_bytes_hi,
            max(n) filter (where metric = 'peak_mem_bytes') as peak_mem_bytes_n,
            max(median) filter (where metric = 'h2d_link_gbps') as h2d_link_gbps,
            max(ci_low) filter (where metric = 'h2d_link_gbps') as h2d_link_gbps_lo,
            max(ci_high) filter (where metric = 'h2d_link_gbps') as h2d_link_gbps_hi,
            max(n) filter (where metric = 'h2d_link_gbps') as h2d_link_gbps_n,
            max(median) filter (where metric = 'energy_per_image_j') as energy_per_image_j,
            max(ci_low) filter (where metric = 'energy_per_image_j') as energy_per_image_j_lo,
            max(ci_high) filter (where metric = 'energy_per_image_j') as energy_per_image_j_hi,
            max(n) filter (where metric = 'energy_per_image_j') as energy_per_image_j_n,
            max(median) filter (where metric = 'latency_p50_ms') as latency_p50_ms,
            max(ci_low) filter (where metric = 'latency_p50_ms') as latency_p50_ms_lo,
            max(ci_high) filter (where metric = 'latency_p50_ms') as latency_p50_ms_hi,
            max(n) filter (where metric = 'latency_p50_ms') as latency_p50_ms_n,
            max(median) filter (where metric = 'latency_p99_ms') as latency_p99_ms,
            max(ci_low) filter (where metric = 'latency_p99_ms') as latency_p99_ms_lo,
            max(ci_high) filter (where metric = 'latency_p99_ms') as latency_p99_ms_hi,
            max(n) filter (where metric = 'latency_p99_ms') as latency_p99_ms_n,
            max(median) filter (where metric = 'compile_s') as compile_s,
            max(ci_low) filter (where metric = 'compile_s') as compile_s_lo,
            max(ci_high) filter (where metric = 'compile_s') as compile_s_hi,
            max(n) filter (where metric = 'compile_s') as compile_s_n,
            max(window_cv_max) filter (where metric = 'clean_throughput') as window_cv_max,
            max(window_spread_max) filter (where metric = 'clean_throughput') as window_spread_max,
            max(batches) filter (where metric = 'clean_throughput') as batches
        from stats
        group by config_id
    ),
    final as (
        select s.*, p.* exclude (config_id)
        from settings as s
        left join pivoted as p
            on p.config_id = s.config_id
    )
select * from final;
