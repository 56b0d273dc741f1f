-- name: config_stats
-- description: Each configuration's runs aggregated per metric: n runs (pooled over batches), the median run value, a 95 % t interval over runs (on log values for positive metrics) with its conf_level and method, the moments the claims use, and the worst within-run window stability.
-- inputs: run_values, usable_runs
--
-- The unit is the run (run_values): n counts runs, never windows. Runs of
-- one configuration collected in several batches are pooled (batches says
-- how many batches they come from, batch_ids which).
-- Interval (conf_level 0.95; method names it):
--   every value > 0: the t interval on log values, exp(m ± t(0.975, n−1)·s/√n)
--     with m, s the mean and standard deviation of ln(v): the interval
--     of the geometric mean, exact coverage when run values are
--     lognormal, robust to the long right tail of timings;
--   otherwise: the t interval on the values themselves;
--   n < 2: no interval (null ci_low, ci_high): one run says nothing about
--     how a second would fall.
-- median is the median of the run values (with two runs, their mean); the
-- interval is centred on the geometric mean, so it may sit off-centre
-- around the median.
-- Moments for contrasts (claims/claim_tests.sql): mean, sd of v; log_mean,
-- log_sd of ln(v) (null unless every v > 0); inv_mean, inv_sd of 1/v
-- (seconds per image for a throughput).
-- Stability (clean_throughput's windows in each run, run_values):
-- window_cv_max, window_cv_median, window_spread_max over the runs; a
-- window_cv above 0.1 is torch.utils.benchmark's warning threshold.
create or replace view config_stats as
with
    runs_in as (
        -- run_values holds usable runs only; the semi join keeps that true
        -- where a test gives run_values rows directly
        select v.*
        from run_values as v
        semi join usable_runs as u
            on u.batch_id = v.batch_id and u.run_id = v.run_id
    ),
    grouped as (
        select
            config_id,
            metric,
            count(*) as n,
            count(distinct batch_id) as batches,
            list_sort(list(distinct batch_id)) as batch_ids,
            median(v) as median,
            avg(v) as mean,
            stddev_samp(v) as sd,
            case when min(v) > 0 then avg(ln(greatest(v, 1e-300))) end as log_mean,
            case when min(v) > 0 then stddev_samp(ln(greatest(v, 1e-300))) end as log_sd,
            case when min(v) > 0 then avg(1 / nullif(v, 0)) end as inv_mean,
            case when min(v) > 0 then stddev_samp(1 / nullif(v, 0)) end as inv_sd,
            max(window_cv) as window_cv_max,
            median(window_cv) as window_cv_median,
            max(window_spread) as window_spread_max
        from runs_in
        group by config_id, metric
    ),
    critical_args as (
        select *, 0.975 as p, n - 1 as df
        from grouped
    ),
    critical as (
        select * exclude (p, df)
        from t_quantiles('critical_args')
    ),
    intervals as (
        select
            *,
            case
                when n < 2 then null
                when log_mean is not null then t_interval(log_mean, log_sd / sqrt(n), t)
                else t_interval(mean, sd / sqrt(n), t)
            end as ci
        from critical
    ),
    final as (
        select
            config_id,
            metric,
            n,
            median,
            case when log_mean is not null then exp(ci.lo) else ci.lo end as ci_low,
            case when log_mean is not null then exp(ci.hi) else ci.hi end as ci_high,
            case when n >= 2 then 0.95 end as conf_level,
            case
                when n < 2 then 'median of ' || n || ' run; no interval (n < 2 runs)'
                when log_mean is not null then 'median of ' || n || ' runs; 95 % t interval on log run values (geometric mean), df ' || (n - 1)
                else 'median of ' || n || ' runs; 95 % t interval on run values (mean), df ' || (n - 1)
            end as method,
            batches,
            batch_ids,
            mean, sd, log_mean, log_sd, inv_mean, inv_sd,
            window_cv_max,
            window_cv_median,
            window_spread_max
        from intervals
    )
select * from final;
