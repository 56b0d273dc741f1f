-- name: config_stats
-- description: The repeats of each configuration aggregated per metric: n, median and a 95 % distribution-free interval for the median (null when n < 3).
-- inputs: run_metrics_v, runs, clean_windows, usable_runs
--
-- Repeats: for clean_throughput the clean measurement windows of every run
-- of the configuration (clean_windows.throughput; for a run without
-- windows, each untraced repeat in runs.clean_throughput_runs, else the
-- run's clean_throughput); for energy_per_image_j the clean windows with an
-- energy reading (energy_j / images), else the run's value; for every other
-- metric the runs. Only runs with status 'ok' that runs_flagged does not
-- flag count.
-- Method (the `method` column): the median of the n values; the interval
-- is the order-statistic interval [x(l), x(u)] of the sorted values with
--   l = max(1, floor((n - 1.96·√n) / 2)),  u = min(n, ceil(1 + (n + 1.96·√n) / 2))
-- (the normal approximation of the binomial(n, 1/2) count below the median;
-- distribution-free, no assumption of normality). For n ≤ 10 this is
-- [min, max], whose exact coverage 1 - 2^(1-n) is below 95 % for n < 6
-- (75 % at n = 3, 87.5 % at 4, 93.75 % at 5): the method text says so.
-- n < 3 gives null ci_low, ci_high.
create or replace view config_stats as
with
    good as (
        select batch_id, run_id, config_id, compile_s from usable_runs
    ),
    metrics as (
        select m.*, g.compile_s
        from run_metrics_v as m
        join good as g
            on g.batch_id = m.batch_id and g.run_id = m.run_id
    ),
    run_values as (
        unpivot (
            select
                batch_id, run_id, config_id,
                traced_throughput::double as traced_throughput,
                profiler_overhead::double as profiler_overhead,
                gpu_busy::double as gpu_busy,
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
    windows as (
        select w.batch_id, w.run_id, w.throughput, w.energy_j / nullif(w.images, 0) as energy_per_image_j
        from clean_windows as w
        semi join good as g
            on g.batch_id = w.batch_id and g.run_id = w.run_id
    ),
    repeats_json as (
        select r.batch_id, r.run_id, cast(t.v as double) as throughput
        from runs as r
        semi join good as g
            on g.batch_id = r.batch_id and g.run_id = r.run_id,
        unnest(cast(json(r.clean_throughput_runs) as double[])) as t(v)
        where r.clean_throughput_runs is not null
    ),
    clean_values as (
        -- clean windows, else untraced repeats, else the run's own value
        select g.config_id, 'clean_throughput' as metric, w.throughput as v
        from windows as w join good as g using (batch_id, run_id)
        where w.throughput is not null
        union all
        select g.config_id, 'clean_throughput', j.throughput
        from repeats_json as j join good as g using (batch_id, run_id)
        where not exists (select 1 from windows as w where w.batch_id = j.batch_id and w.run_id = j.run_id and w.throughput is not null)
        union all
        select m.config_id, 'clean_throughput', m.clean_throughput
        from metrics as m
        where not exists (select 1 from windows as w where w.batch_id = m.batch_id and w.run_id = m.run_id and w.throughput is not null)
          and not exists (select 1 from repeats_json as j where j.batch_id = m.batch_id and j.run_id = m.run_id)
        union all
        select g.config_id, 'energy_per_image_j', w.energy_per_image_j
        from windows as w join good as g using (batch_id, run_id)
        where w.energy_per_image_j is not null
        union all
        select m.config_id, 'energy_per_image_j', m.energy_per_image_j
        from metrics as m
        where not exists (select 1 from windows as w where w.batch_id = m.batch_id and w.run_id = m.run_id and w.energy_per_image_j is not null)
    ),
    all_values as (
        select config_id, metric, v from run_values
        union all
        select config_id, metric, v from clean_values
    ),
    grouped as (
        select config_id, metric, list_sort(list(v)) as xs, count(v) as n
        from all_values
        where v is not null and isfinite(v)
        group by config_id, metric
    ),
    ranked as (
        select
            *,
            greatest(1, floor((n - 1.96 * sqrt(n)) / 2))::bigint as l,
            least(n, ceil(1 + (n + 1.96 * sqrt(n)) / 2))::bigint as u
        from grouped
    ),
    final as (
        select
            config_id,
            metric,
            n,
            list_median(xs) as median,
            case when n >= 3 then xs[l] end as ci_low,
            case when n >= 3 then xs[u] end as ci_high,
            case
                when n < 3 then 'median of ' || n || '; no interval (n < 3)'
                when l = 1 and u = n and n < 6 then 'median; order-statistic interval [min, max], coverage ' || round(100 * (1 - 2 ^ (1 - n)), 2) || ' % (< 95 %: n < 6)'
                else 'median; 95 % order-statistic interval [x(' || l || '), x(' || u || ')] of ' || n
            end as method
        from ranked
    )
select * from final;
