-- name: run_metrics_v
-- description: One row per run with every per-run metric under fixed names (the columns of the saved query run_metrics): throughput, busy fractions, copy rates, FLOPs, energy, memory, latency and the seed-compatible metrics.
-- inputs: run_config, run_window, run_images, run_throughput, run_busy, run_copy_rates, run_kernels, run_flops, run_energy, run_latency, run_seed_metrics, runs, gpu_samples
-- derive: per-batch
--
-- Fractions are in [0, 1] (seed_* may leave it, see run_seed_metrics),
-- rates per second, times in the unit their name says. Each column is
-- defined once in the metric view named beside it:
--   window_ns (run_window), images (run_images),
--   clean_throughput, traced_throughput, profiler_overhead (run_throughput),
--   gpu_busy, compute_busy, h2d_busy, d2h_busy, copy_compute_overlap, idle (run_busy),
--   gpu_busy_untraced (here, from run_busy and run_throughput: see below),
--   h2d_link_gbps, h2d_effective_gbps, seed_h2d_mib_s (run_copy_rates),
--   kernels_per_image, launch_gap_p50_us (run_kernels),
--   flops_per_image, tflops, peak_tflops, peak_fraction (run_flops),
--   energy_per_image_j, energy_source (run_energy),
--   latency_p50_ms, latency_p90_ms, latency_p99_ms (run_latency),
--   seed_compute_utilisation, seed_pipeline_efficiency, seed_temporal_compression (run_seed_metrics).
-- gpu_busy_untraced estimates the GPU busy fraction of the untraced run:
-- the trace's kernel busy time in W per image (gpu_busy × |W| / images =
-- gpu_busy / traced_throughput) × the untraced clean_throughput, at most
-- 1; it assumes the profiler slowed the host side (launches, syncs) and
-- not the kernels. gpu_busy itself is the traced run's (profiler included).
-- Null without either throughput.
-- peak_mem_bytes is runs.peak_mem_bytes (PyTorch's peak allocation), else
-- the largest NVML mem_used_bytes sample of the run. Every run of runs has
-- a row; a run without a trace window has null trace metrics.
create or replace view run_metrics_v as
with
    config as (select * from run_config),
    windows as (select * from run_window),
    images as (select * from run_images),
    throughput as (select * from run_throughput),
    busy as (select * from run_busy),
    rates as (select * from run_copy_rates),
    kernel_stats as (select * from run_kernels),
    flops as (select * from run_flops),
    energy as (select * from run_energy),
    latency as (select * from run_latency),
    seed as (select * from run_seed_metrics),
    runs_in as (select batch_id, run_id, peak_mem_bytes from runs),
    sample_mem as (
        select batch_id, run_id, max(mem_used_bytes) as mem_bytes
        from gpu_samples
        group by batch_id, run_id
    ),
    final as (
        select
            c.batch_id,
            c.run_id,
            c.config_id,
            w.window_ns,
            i.images,
            t.clean_throughput,
            t.traced_throughput,
            t.profiler_overhead,
            b.gpu_busy,
            -- least() skips nulls: test first, so no estimate reads 1
            case
                when b.gpu_busy * t.clean_throughput / nullif(t.traced_throughput, 0) is not null
                    then least(1.0, b.gpu_busy * t.clean_throughput / t.traced_throughput)
            end as gpu_busy_untraced,
            b.compute_busy,
            b.h2d_busy,
            b.d2h_busy,
            b.copy_compute_overlap,
            b.idle,
            r.h2d_link_gbps,
            r.h2d_effective_gbps,
            k.kernels_per_image,
            k.launch_gap_p50_us,
            f.flops_per_image,
            f.tflops,
            f.peak_tflops,
            f.peak_fraction,
            e.energy_per_image_j,
            e.energy_source,
            coalesce(ru.peak_mem_bytes, m.mem_bytes) as peak_mem_bytes,
            l.latency_p50_ms,
            l.latency_p90_ms,
            l.latency_p99_ms,
            s.seed_compute_utilisation,
            s.seed_pipeline_efficiency,
            s.seed_temporal_compression,
            r.seed_h2d_mib_s
        from config as c
        left join windows as w on w.batch_id = c.batch_id and w.run_id = c.run_id
        left join images as i on i.batch_id = c.batch_id and i.run_id = c.run_id
        left join throughput as t on t.batch_id = c.batch_id and t.run_id = c.run_id
        left join busy as b on b.batch_id = c.batch_id and b.run_id = c.run_id
        left join rates as r on r.batch_id = c.batch_id and r.run_id = c.run_id
        left join kernel_stats as k on k.batch_id = c.batch_id and k.run_id = c.run_id
        left join flops as f on f.batch_id = c.batch_id and f.run_id = c.run_id
        left join energy as e on e.batch_id = c.batch_id and e.run_id = c.run_id
        left join latency as l on l.batch_id = c.batch_id and l.run_id = c.run_id
        left join seed as s on s.batch_id = c.batch_id and s.run_id = c.run_id
        left join runs_in as ru on ru.batch_id = c.batch_id and ru.run_id = c.run_id
        left join sample_mem as m on m.batch_id = c.batch_id and m.run_id = c.run_id
    )
select * from final;
