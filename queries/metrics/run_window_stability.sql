-- name: run_window_stability
-- description: One row per run with clean windows: how stable its untraced throughput was inside the run (window count, median, CoV, spread, IQR/median, monotone trend), a stability figure of one process, never repeats.
-- inputs: clean_windows
-- derive: per-batch
--
-- Over the run's clean windows with a throughput (clean_windows, schema
-- v3), in window order:
--   windows          how many
--   window_median    median throughput, img/s (the run's clean_throughput)
--   window_min, window_max
--   window_cv        sample standard deviation / mean (0 for one window)
--   window_spread    (max - min) / median
--   window_iqr_ratio IQR / median (torch.utils.benchmark warns above 0.1)
--   window_trend     +1 when every window is faster than the one before,
--                    -1 when every one is slower, 0 otherwise; null with
--                    fewer than 3 windows (two points always "trend")
--   window_change    last / first - 1: the drift from the first window to
--                    the last
-- The windows of one run share its process, CUDA context, allocator and
-- clocks: these figures say whether the run reached a steady state, not
-- whether its result reproduces (that needs several runs; DESIGN.md,
-- "Repeats and statistics"). run_validity turns them into flags.
create or replace view run_window_stability as
with
    windows as (
        select batch_id, run_id, "window", throughput
        from clean_windows
        where throughput is not null
    ),
    steps as (
        select
            *,
            throughput - lag(throughput) over w as step,
            first_value(throughput) over w as first_throughput,
            last_value(throughput) over (w rows between unbounded preceding and unbounded following) as last_throughput
        from windows
        window w as (partition by batch_id, run_id order by "window")
    ),
    final as (
        select
            batch_id,
            run_id,
            count(*) as windows,
            median(throughput) as window_median,
            min(throughput) as window_min,
            max(throughput) as window_max,
            coalesce(stddev_samp(throughput), 0) / nullif(avg(throughput), 0) as window_cv,
            (max(throughput) - min(throughput)) / nullif(median(throughput), 0) as window_spread,
            (quantile_cont(throughput, 0.75) - quantile_cont(throughput, 0.25)) / nullif(median(throughput), 0) as window_iqr_ratio,
            case
                when count(*) < 3 then null
                when count(*) filter (where step > 0) = count(*) - 1 then 1
                when count(*) filter (where step < 0) = count(*) - 1 then -1
                else 0
            end as window_trend,
            any_value(last_throughput) / nullif(any_value(first_throughput), 0) - 1 as window_change
        from steps
        group by batch_id, run_id
        order by batch_id, run_id
    )
select * from final;
