-- name: energy
-- description: Energy per image by configuration (median and 95 % interval), where it was measured from, average power and work per joule.
-- inputs: run_config, config_summary, run_metrics_v, usable_runs
-- rq: -
-- chart: scatter x=clean_throughput y=energy_per_image_mj series=rq logx logy title=Energy per image (mJ) against untraced throughput (img/s)
--
-- One row per configuration with a successful run, ordered by rq, GPU,
-- then energy per image.
-- Columns:
--   config_id, rq, gpu_name, patch, depth, hidden, resolution, batch_size,
--   compile_mode, pipeline, preprocess;
--   energy_per_image_mj, energy_lo_mj, energy_hi_mj, energy_n   energy per
--     image in mJ (median run, 95 % t interval over runs; null when
--     there is no measurement);
--   energy_source   where it came from, from run_metrics_v (e.g.
--     nvml_total_energy: the NVML counter over each clean window;
--     power_samples: NVML power samples integrated over the traced window
--     when they cover >= 80 % of it; metrics/run_energy.sql); several
--     sources are listed comma-separated; 'no data' when none;
--   clean_throughput   untraced img/s (median);
--   avg_power_w   the mean board power it implies: per run, energy per
--     image x the throughput of the window it was measured in (clean for
--     nvml_total_energy, traced for power_samples), median over the runs;
--   gflop_per_j   analytic FLOPs per image / energy per image (GFLOP/J).

with

configs as (
    select config_id, min(rq) as rq
    from run_config
    where status = 'ok'
    group by config_id
),

summary as (
    select * from config_summary
    where config_id in (select config_id from configs)
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
        string_agg(distinct energy_source, ',' order by energy_source)
            filter (where energy_per_image_j is not null) as energy_source,
        median(flops_per_image) as flops_per_image,
        -- mean power over the window the energy was measured in
        median(energy_per_image_j * case energy_source
            when 'nvml_total_energy' then clean_throughput
            when 'power_samples' then traced_throughput
        end) as avg_power_w
    from metrics
    group by config_id
),

final as (
    select
        s.config_id,
        c.rq,
        s.gpu_name,
        s.patch,
        s.depth,
        s.hidden,
        s.resolution,
        s.batch_size,
        s.compile_mode,
        s.pipeline,
        s.preprocess,
        round(s.energy_per_image_j * 1e3, 3) as energy_per_image_mj,
        round(s.energy_per_image_j_lo * 1e3, 3) as energy_lo_mj,
        round(s.energy_per_image_j_hi * 1e3, 3) as energy_hi_mj,
        s.energy_per_image_j_n as energy_n,
        coalesce(p.energy_source, 'no data') as energy_source,
        round(s.clean_throughput, 1) as clean_throughput,
        round(p.avg_power_w, 1) as avg_power_w,
        round(p.flops_per_image / 1e9 / nullif(s.energy_per_image_j, 0), 1) as gflop_per_j
    from summary as s
    join configs as c
        on c.config_id = s.config_id
    left join per_config as p
        on p.config_id = s.config_id
    order by c.rq, s.gpu_name, s.energy_per_image_j nulls last, s.config_id
)

select * from final
