-- name: usable_run_metrics
-- description: run_metrics_v for the usable runs only, with the trace-derived metrics null where the run's profiler overhead is beyond the limit (usable_runs.trace_ok false): one value per run and metric that a verdict may use, plus trace_ok and validity_flags.
-- inputs: run_metrics_v, usable_runs
--
-- The one place that says which metrics come from the trace. A run kept
-- in usable_runs with a 'trace' flag (run_validity: traced throughput off
-- the untraced one by more than validity_max_overhead) keeps its untraced
-- values (clean_throughput, tflops and peak_fraction at the clean
-- throughput, energy_per_image_j from the clean windows, peak_mem_bytes)
-- and gpu_busy_untraced (the trace's busy time per image at the untraced
-- throughput: the estimate made for these runs); every metric measured
-- inside the traced window W is null for it: traced_throughput, the busy
-- fractions, copy rates, kernels per image, launch gap, latency
-- percentiles and the seed_* metrics. energy_per_image_j from power
-- samples over W (energy_source 'power_samples') is trace-derived too.
-- Statistics read this view rather than run_metrics_v joined to
-- usable_runs, so that a profiler-distorted value never enters a verdict.
create or replace view usable_run_metrics as
with
    usable as (
        select batch_id, run_id, trace_ok, validity_flags from usable_runs
    ),
    metrics as (
        select * from run_metrics_v
    ),
    final as (
        select
            m.* replace (
                case when u.trace_ok then m.traced_throughput end as traced_throughput,
                case when u.trace_ok then m.gpu_busy end as gpu_busy,
                case when u.trace_ok then m.compute_busy end as compute_busy,
                case when u.trace_ok then m.h2d_busy end as h2d_busy,
                case when u.trace_ok then m.d2h_busy end as d2h_busy,
                case when u.trace_ok then m.copy_compute_overlap end as copy_compute_overlap,
                case when u.trace_ok then m.idle end as idle,
                case when u.trace_ok then m.h2d_link_gbps end as h2d_link_gbps,
                case when u.trace_ok then m.h2d_effective_gbps end as h2d_effective_gbps,
                case when u.trace_ok then m.kernels_per_image end as kernels_per_image,
                case when u.trace_ok then m.launch_gap_p50_us end as launch_gap_p50_us,
                case when u.trace_ok or m.energy_source <> 'power_samples' then m.energy_per_image_j end as energy_per_image_j,
                case when u.trace_ok then m.latency_p50_ms end as latency_p50_ms,
                case when u.trace_ok then m.latency_p90_ms end as latency_p90_ms,
                case when u.trace_ok then m.latency_p99_ms end as latency_p99_ms,
                case when u.trace_ok then m.seed_compute_utilisation end as seed_compute_utilisation,
                case when u.trace_ok then m.seed_pipeline_efficiency end as seed_pipeline_efficiency,
                case when u.trace_ok then m.seed_temporal_compression end as seed_temporal_compression,
                case when u.trace_ok then m.seed_h2d_mib_s end as seed_h2d_mib_s
            ),
            u.trace_ok,
            u.validity_flags
        from metrics as m
        join usable as u
            on u.batch_id = m.batch_id and u.run_id = m.run_id
        order by m.batch_id, m.run_id
    )
select * from final;
