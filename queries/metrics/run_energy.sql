-- name: run_energy
-- description: Energy per image of each run in J: from the NVML energy counter over the clean windows where recorded, else the integral of NVML power samples over W when they cover at least 80 % of W, else no data.
-- inputs: clean_windows, gpu_samples, run_window, run_images, runs
-- derive: per-batch
--
-- energy_source, in order of preference:
--   'nvml_total_energy': Σ clean_windows.energy_j / Σ clean_windows.images over
--                        the run's clean windows with a counter reading (exact,
--                        mJ resolution, no profiler running);
--   'power_samples':     the traced window W: samples of the run's GPU
--                        (runs.gpu_index; traced phase, or phase unknown) taken
--                        inside W, trapezoids between consecutive samples at most
--                        1 s apart; covered = the time those trapezoids span.
--                        When covered ≥ 0.8·|W|: energy = mean power over the
--                        covered time × |W|, per image = energy / images in W;
--   'no data':           neither (energy_per_image_j null).
-- power_coverage is covered / |W| (null without samples).
create or replace view run_energy as
with
    runs_in as (
        select batch_id, run_id, gpu_index from runs
    ),
    windows_clean as (
        select batch_id, run_id, sum(energy_j) as energy_j, sum(images) as images
        from clean_windows
        where energy_j is not null and images > 0
        group by batch_id, run_id
    ),
    windows as (
        select * from run_window
    ),
    images as (
        select * from run_images
    ),
    samples as (
        select s.batch_id, s.run_id, s.t, s.power_w
        from gpu_samples as s
        join runs_in as r
            on r.batch_id = s.batch_id and r.run_id = s.run_id
           and (r.gpu_index is null or s.gpu_index = r.gpu_index)
        join windows as w
            on w.batch_id = s.batch_id and w.run_id = s.run_id
        where s.t >= w.w_start and s.t <= w.w_end
          and s.power_w is not null
          and (s.phase is null or s.phase = 'traced')
    ),
    pairs as (
        select
            batch_id,
            run_id,
            t - lag(t) over (partition by batch_id, run_id order by t) as dt,
            (power_w + lag(power_w) over (partition by batch_id, run_id order by t)) / 2 as mean_w
        from samples
    ),
    integrated as (
        select batch_id, run_id, sum(dt) as covered_ns, sum(mean_w * dt) / nullif(sum(dt), 0) as mean_power_w
        from pairs
        where dt is not null and dt > 0 and dt <= 1000000000
        group by batch_id, run_id
    ),
    final as (
        select
            r.batch_id,
            r.run_id,
            case
                when c.energy_j is not null then c.energy_j / c.images
                when i.covered_ns >= 0.8 * w.window_ns and w.window_ns > 0 and im.images > 0
                    then i.mean_power_w * w.window_ns / 1e9 / im.images
            end as energy_per_image_j,
            case
                when c.energy_j is not null then 'nvml_total_energy'
                when i.covered_ns >= 0.8 * w.window_ns and w.window_ns > 0 and im.images > 0 then 'power_samples'
                else 'no data'
            end as energy_source,
            i.covered_ns / nullif(w.window_ns, 0) as power_coverage,
            i.mean_power_w
        from runs_in as r
        left join windows_clean as c
            on c.batch_id = r.batch_id and c.run_id = r.run_id
        left join windows as w
            on w.batch_id = r.batch_id and w.run_id = r.run_id
        left join integrated as i
            on i.batch_id = r.batch_id and i.run_id = r.run_id
        left join images as im
            on im.batch_id = r.batch_id and im.run_id = r.run_id
    )
select * from final;
