-- name: seed_vs_vitlab
-- description: The earlier study's seed-compatible metrics next to vitlab's, per run: sum(kernel)/kernel span against interval-union GPU busy, per-copy MiB/s against link and effective GB/s.
-- inputs: run_config, run_metrics_v
-- rq: -
-- param: batch = null  -- only this batch id (every batch when null)
-- param: run = null  -- only this run id (every run when null)
-- chart: scatter x=gpu_busy y=seed_compute_utilisation series=rq title=Seed compute utilisation (sum of kernels / kernel span) against GPU busy (interval union / window)
-- chart: scatter x=h2d_link_mib_s y=seed_h2d_mib_s series=rq title=Seed per-copy H2D MiB/s against vitlab's link rate in MiB/s
--
-- One row per successful run, ordered by batch, rq, config, run.
-- The earlier study measured differently, so its numbers and vitlab's are
-- not the same quantity under two names:
--   seed_compute_utilisation = sum of kernel durations / (last kernel end -
--     first kernel start): overlapping kernels count twice (it can exceed
--     1) and idle before the first / after the last kernel is left out;
--     gpu_busy = |U kernels n W| / |W| over the timed window W.
--   busy_gap = seed_compute_utilisation - gpu_busy: how much the seed metric
--     flatters (positive) the GPU.
--   seed_pipeline_efficiency = 1 - sum of per-stream gaps > 1 us / span;
--   seed_temporal_compression = sum of op durations / span (> 1 means ops
--     overlap); idle = 1 - |U all GPU ops n W| / |W| (vitlab).
--   seed_h2d_mib_s: the seed's per-copy H2D bandwidth in MiB/s (2^20 B);
--     h2d_link_gbps = sum bytes / sum copy durations (GB/s, 1e9 B), and
--     h2d_link_mib_s the same rate in MiB/s, so that the two differ only in
--     how they average, not in units; h2d_effective_gbps = sum bytes / |W|.
-- Fractions rounded to 4 decimals, rates to 2.

with

config as (
    select batch_id, run_id, rq, config_id from run_config
    where status = 'ok'
        and (getvariable('batch') is null or batch_id = getvariable('batch'))
        and (getvariable('run') is null or run_id = getvariable('run'))
),

metrics as (
    select * from run_metrics_v
),

final as (
    select
        m.batch_id,
        m.run_id,
        c.rq,
        m.config_id,
        round(m.gpu_busy, 4) as gpu_busy,
        round(m.seed_compute_utilisation, 4) as seed_compute_utilisation,
        round(m.seed_compute_utilisation - m.gpu_busy, 4) as busy_gap,
        round(m.seed_pipeline_efficiency, 4) as seed_pipeline_efficiency,
        round(m.seed_temporal_compression, 4) as seed_temporal_compression,
        round(m.idle, 4) as idle,
        round(m.h2d_link_gbps, 2) as h2d_link_gbps,
        round(m.h2d_link_gbps * 1e9 / 1048576, 2) as h2d_link_mib_s,
        round(m.seed_h2d_mib_s, 2) as seed_h2d_mib_s,
        round(m.h2d_effective_gbps, 2) as h2d_effective_gbps
    from metrics as m
    join config as c
        on c.batch_id = m.batch_id and c.run_id = m.run_id
    order by m.batch_id, c.rq, m.config_id, m.run_id
)

select * from final
