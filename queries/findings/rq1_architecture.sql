-- name: rq1_architecture
-- description: RQ1: untraced throughput, GPU busy, achieved TFLOP/s and its fraction of the card's bf16 peak, by patch x depth x hidden (median run and 95 % interval over runs).
-- inputs: run_config, config_summary, config_stats, run_metrics_v, usable_runs, config_headroom
-- rq: rq1
-- chart: line x=hidden y=clean_throughput series=arch logy title=Untraced throughput (img/s) by hidden size, one line per patch and depth
-- chart: line x=hidden y=gpu_busy series=arch title=GPU busy (interval union of kernels over the timed window) by hidden size
-- chart: line x=hidden y=tflops series=arch title=Achieved TFLOP/s (analytic FLOPs x untraced throughput) by hidden size
-- chart: scatter x=gflops_per_image y=peak_fraction series=arch logx title=Fraction of the card's dense bf16 peak against work per image
-- chart: line x=hidden y=bound_fraction series=arch title=Fraction of the run's ceiling reached (the slower of its forward-only and preprocessing-only rates): how much of each number is the model
--
-- One row per configuration of the rq1 plan (a run_config row with rq = 'rq1'),
-- ordered by GPU, patch, depth, hidden, resolution, batch size.
-- Columns:
--   config_id, gpu_name, arch ('p<patch> d<depth>': the chart series),
--   patch, depth, hidden, resolution, tokens ((resolution/patch)^2),
--   batch_size;
--   gflops_per_image    analytic forward FLOPs per image / 1e9
--                       (run_metrics_v.flops_per_image; the formula is in
--                       metrics/run_flops.sql);
--   clean_throughput, clean_throughput_lo, clean_throughput_hi, clean_throughput_n
--                       untraced img/s: median and 95 % t interval over
--                       the runs (config_summary; interval null with one
--                       run);
--   gpu_busy, gpu_busy_lo, gpu_busy_hi, gpu_busy_n
--                       |U kernels n W| / |W| over the traced runs;
--   seed_compute_utilisation  the earlier study's sum(kernel) / kernel span
--                       (median of the runs), next to gpu_busy;
--   tflops, tflops_lo, tflops_hi, tflops_n   achieved TFLOP/s = FLOPs per
--                       image x untraced throughput (per run, then median);
--   peak_tflops         the card's dense bf16 peak (metrics/gpu_cards.sql);
--   peak_fraction, peak_fraction_lo, peak_fraction_hi
--                       tflops / peak_tflops (config_stats).
-- Runs: status ok and not in runs_flagged, as config_summary counts them.
-- Every value is rounded for reading (throughput 1 decimal, fractions 4,
-- TFLOP/s 2); the report's Parquet copy has the same rounding.

-- forward_bound_img_s, prep_bound_img_s, bound_img_s, bound_fraction,
--   limiting_stage   how much of the throughput is the model
--     (metrics/config_headroom.sql, from metrics/run_headroom.sql): the
--     forward-only bound (same model, batch, resolution and compile mode,
--     input already on the GPU), the preprocessing path's rate alone, the
--     pipeline's ceiling least(forward, prep), clean_throughput / that ceiling,
--     and the stage that limits it; null for runs collected before the
--     workload measured them.
with

configs as (
    select distinct config_id from run_config
    where rq = 'rq1'
),

summary as (
    select * from config_summary
    where config_id in (select config_id from configs)
),

stats as (
    select * from config_stats
    where metric = 'peak_fraction'
),

-- the runs config_summary counts: ok and not flagged
good_runs as (
    select batch_id, run_id from usable_runs
),

metrics as (
    select m.*
    from run_metrics_v as m
    semi join good_runs as g
        on g.batch_id = m.batch_id and g.run_id = m.run_id
),

per_config as (
    select
        config_id,
        median(flops_per_image) as flops_per_image,
        median(peak_tflops) as peak_tflops
    from metrics
    group by config_id
),

final as (
    select
        s.config_id,
        s.gpu_name,
        'p' || s.patch || ' d' || s.depth as arch,
        s.patch,
        s.depth,
        s.hidden,
        s.resolution,
        s.tokens,
        s.batch_size,
        round(p.flops_per_image / 1e9, 2) as gflops_per_image,
        round(s.clean_throughput, 1) as clean_throughput,
        round(s.clean_throughput_lo, 1) as clean_throughput_lo,
        round(s.clean_throughput_hi, 1) as clean_throughput_hi,
        s.clean_throughput_n,
        round(s.gpu_busy, 4) as gpu_busy,
        round(s.gpu_busy_lo, 4) as gpu_busy_lo,
        round(s.gpu_busy_hi, 4) as gpu_busy_hi,
        s.gpu_busy_n,
        round(s.seed_compute_utilisation, 4) as seed_compute_utilisation,
        round(s.tflops, 2) as tflops,
        round(s.tflops_lo, 2) as tflops_lo,
        round(s.tflops_hi, 2) as tflops_hi,
        s.tflops_n,
        round(p.peak_tflops, 1) as peak_tflops,
        round(f.median, 4) as peak_fraction,
        round(f.ci_low, 4) as peak_fraction_lo,
        round(f.ci_high, 4) as peak_fraction_hi,
        round(h.forward_bound_img_s, 1) as forward_bound_img_s,
        round(h.prep_bound_img_s, 1) as prep_bound_img_s,
        round(h.bound_img_s, 1) as bound_img_s,
        round(h.bound_fraction, 3) as bound_fraction,
        h.limiting_stage
    from summary as s
    left join per_config as p
        on p.config_id = s.config_id
    left join stats as f
        on f.config_id = s.config_id
    left join config_headroom as h
        on h.config_id = s.config_id
    order by s.gpu_name, s.patch, s.depth, s.hidden, s.resolution, s.batch_size, s.config_id
)

select * from final
