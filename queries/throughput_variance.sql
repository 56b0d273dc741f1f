-- name: throughput_variance
-- description: Where the variance of clean throughput is (Kalibera & Jones): per configuration, ln(window throughput) split into a between-run and a within-run (window) component by one-way random-effects ANOVA, the intraclass correlation, an F test of the run effect, the optimal clean windows per run and the runs a target interval needs; a summary row per RQ; configurations that cannot be split, with the reason.
-- inputs: usable_runs, run_config, runs_flagged, run_duplicates, clean_windows, runs
-- param: vc_halfwidth = 0.02  -- target half-width of the 95 % interval of a configuration's geometric mean, as a fraction (0.02: ±2 %), for runs_needed
-- param: vc_alpha = 0.05  -- level of the F test of the run effect (S_r² > 0)
-- param: vc_runs = 'usable' | 'ok'  -- usable: the runs of usable_runs; ok: also the runs its validity flags leave out (window_cov, window_trend, clock_drop), whose windows are the within-run variance itself (still without runs flagged by settings_vs_trace and copies)
-- param: vc_run_cost_s double = null  -- fixed cost of one run in seconds, for windows_opt (null: measured per configuration, its runs' wall time minus their clean windows)
--
-- The model (docs/statistics.md, "Where the variance is"): the clean
-- windows of a usable run (usable_runs, clean_windows; with vc_runs =
-- 'ok' also the runs left out for unstable windows or a clock drop: the
-- validity flags select runs on their window spread, which biases S_w²
-- down and the ICC up) are
--     y_ij = ln(throughput of window j of run i) = μ + r_i + e_ij,
-- r_i ~ (0, S_r²) the run's own offset (its process, CUDA context,
-- allocator, clocks, host state), e_ij ~ (0, S_w²) window-to-window noise
-- inside the run. On the log scale the variances are squared coefficients
-- of variation (sqrt(S_w²) ≈ the within-run CV).
-- Level 'config': one row per configuration (config_id) with at least 2
-- usable runs of at least 2 clean windows each (runs with fewer windows
-- are left out of the split; the reason counts them). With k runs of n_i
-- windows, N = Σ n_i, ȳ_i the run means and ȳ the mean of all windows:
--   ms_between = Σ n_i (ȳ_i − ȳ)² / (k − 1)          df_between = k − 1
--   ms_within  = Σ_i Σ_j (y_ij − ȳ_i)² / (N − k)      df_within  = N − k
--   n0         = (N − Σ n_i² / N) / (k − 1)   (= n when every run has n windows)
--   s2_within  = ms_within                                    (S_w²)
--   s2_run     = max(0, ms_between − ms_within) / n0          (S_r²)
--   icc        = s2_run / (s2_run + s2_within)
-- the ANOVA (method of moments) estimators of the unbalanced one-way
-- random-effects model; with equal window counts (balanced, every
-- configuration of a batch so far) they are Kalibera & Jones's
-- T₁² = S₁², T₂² = S₂² − S₁²/n₁ (ISMM 2013, two levels), S₂² the variance
-- of the run means, floored at 0.
--   f_stat = ms_between / ms_within, f_p = P(F(k−1, N−k) > f_stat)
--     (f_sf, views/05_stats.sql); run_effect = f_p < vc_alpha: the
--     between-run component is shown to be above 0 at that level.
-- The repetition plan (Kalibera & Jones, optimal windows per run):
--   window_s    c_window, the mean clean window length, s
--   run_cost_s  c_run, the fixed cost of one run, s: the mean over the
--               configuration's runs of its wall time (runs.finished_at −
--               started_at: the clean phase, the traced phase where the
--               run was traced, the export) minus its clean windows'
--               own seconds; vc_run_cost_s replaces it when set
--   windows_opt n_w* = max(1, round(sqrt(c_run·S_w² / (c_window·S_r²)))),
--               null when s2_run = 0 (estimated): these runs differ no
--               more than their windows predict; with few runs that does
--               not show that runs could share a process (the reason says so)
--   runs_needed the fewest runs n (2 to 1000; null beyond) for which
--               the 95 % interval of the geometric mean, exp(ȳ ± t(0.975,
--               n − 1)·s_m/√n), has a half-width of at most vc_halfwidth
--               (t·s_m/√n <= ln(1 + vc_halfwidth)), s_m² the sample
--               variance of the run means at the current windows per run
--   runs_needed_opt the same at windows_opt windows per run, with
--               s2_run + s2_within / windows_opt in place of s_m²
-- The run means here are means of ln(window); config_stats's interval is
-- over ln(median window) per run: close, not identical.
-- Level 'rq': one row per research question over its split
-- configurations: configs, icc (the median), run_effect_configs (how many
-- have run_effect), s2_run_zero_configs (how many have s2_run = 0).
-- Level 'not split': a configuration with usable runs but fewer than 2
-- with 2 clean windows, with the reason ('one run: no between-run
-- variance', …).
-- Rows: 'config' rows by rq, config_id; then the 'rq' rows; then 'not
-- split'.

with

usable as (
    select batch_id, run_id, rq, config_id from usable_runs
    where getvariable('vc_runs') = 'usable'
    union all
    select c.batch_id, c.run_id, c.rq, c.config_id
    from run_config as c
    anti join runs_flagged as f
        on f.batch_id = c.batch_id and f.run_id = c.run_id
    anti join run_duplicates as d
        on d.batch_id = c.batch_id and d.run_id = c.run_id
    where c.status = 'ok' and getvariable('vc_runs') = 'ok'
),

run_times as (
    select batch_id, run_id, epoch(finished_at - started_at) as wall_s from runs
),

windows as (
    select w.batch_id, w.run_id, w.throughput, w.duration_ns / 1e9 as seconds
    from clean_windows as w
    semi join usable as u
        on u.batch_id = w.batch_id and u.run_id = w.run_id
    where w.throughput > 0
),

per_run as (
    select
        u.batch_id,
        u.run_id,
        u.rq,
        u.config_id,
        count(w.throughput) as n_i,
        avg(ln(w.throughput)) as mean_i,
        coalesce(sum(w.seconds), 0) as window_seconds,
        any_value(t.wall_s) - coalesce(sum(w.seconds), 0) as cost_s
    from usable as u
    left join windows as w
        on w.batch_id = u.batch_id and w.run_id = u.run_id
    left join run_times as t
        on t.batch_id = u.batch_id and t.run_id = u.run_id
    group by all
),

split_runs as (
    select * from per_run where n_i >= 2
),

run_ss as (
    -- Σ_j (y_ij − ȳ_i)² per run
    select r.config_id, r.batch_id, r.run_id, sum(pow(ln(w.throughput) - r.mean_i, 2)) as ss_i
    from split_runs as r
    join windows as w
        on w.batch_id = r.batch_id and w.run_id = r.run_id
    group by all
),

config_totals as (
    select
        r.config_id,
        any_value(r.rq) as rq,
        count(*) as k,
        count(distinct r.batch_id) as batches,
        sum(r.n_i) as n_total,
        min(r.n_i) as windows_min,
        max(r.n_i) as windows_max,
        sum(r.n_i * r.mean_i) / sum(r.n_i) as grand_mean,
        avg(r.mean_i) as mean_of_means,
        var_samp(r.mean_i) as s2_means,
        sum(s.ss_i) as ss_within,
        sum(r.n_i * r.n_i) as sum_n2,
        sum(r.window_seconds) / sum(r.n_i) as window_s,
        avg(r.cost_s) as measured_cost_s
    from split_runs as r
    join run_ss as s
        on s.batch_id = r.batch_id and s.run_id = r.run_id
    group by r.config_id
),

between as (
    -- Σ n_i (ȳ_i − ȳ)² per configuration
    select r.config_id, sum(r.n_i * pow(r.mean_i - t.grand_mean, 2)) as ss_between
    from split_runs as r
    join config_totals as t
        on t.config_id = r.config_id
    group by r.config_id
),

anova as (
    select
        t.*,
        b.ss_between / (t.k - 1) as ms_between,
        t.ss_within / (t.n_total - t.k) as ms_within,
        t.k - 1 as df_between,
        t.n_total - t.k as df_within,
        (t.n_total - t.sum_n2 / t.n_total) / (t.k - 1) as n0
    from config_totals as t
    join between as b
        on b.config_id = t.config_id
    where t.k >= 2
),

components as (
    select
        *,
        ms_within as s2_within,
        greatest(0, ms_between - ms_within) / n0 as s2_run,
        case when ms_within > 0 then ms_between / ms_within
             when ms_between > 0 then 'inf'::double end as f_stat,
        coalesce(getvariable('vc_run_cost_s'), measured_cost_s) as run_cost_s
    from anova
),

planned as (
    select
        *,
        s2_run / nullif(s2_run + s2_within, 0) as icc,
        f_sf(f_stat, df_between, df_within) as f_p,
        case when s2_run > 0 and s2_within > 0 and run_cost_s > 0 and window_s > 0 then
            greatest(1, round(sqrt(run_cost_s * s2_within / (window_s * s2_run))))::bigint
             when s2_run > 0 and s2_within = 0 then 1::bigint
        end as windows_opt
    from components
),

grid as (
    select unnest(range(2, 1001)) as n
),

need_args as (
    -- one row per configuration, candidate n and plan: 'now' (the current
    -- windows per run) and 'opt' (windows_opt per run)
    select p.config_id, 'now' as plan, g.n, p.s2_means as v, 0.975 as p, g.n - 1 as df
    from planned as p, grid as g
    where p.s2_means is not null
    union all
    select p.config_id, 'opt' as plan, g.n, p.s2_run + p.s2_within / p.windows_opt as v, 0.975 as p, g.n - 1 as df
    from planned as p, grid as g
    where p.windows_opt is not null
),

needed as (
    select
        config_id,
        min(n) filter (where plan = 'now' and t * sqrt(v / n) <= ln(1 + getvariable('vc_halfwidth'))) as runs_needed,
        min(n) filter (where plan = 'opt' and t * sqrt(v / n) <= ln(1 + getvariable('vc_halfwidth'))) as runs_needed_opt
    from t_quantiles('need_args')
    group by config_id
),

all_runs as (
    select
        config_id,
        any_value(rq) as rq,
        count(*) as usable,
        count(*) filter (where n_i >= 2) as with_windows,
        count(distinct batch_id) as batches,
        sum(n_i) as n_total,
        min(n_i) as windows_min,
        max(n_i) as windows_max
    from per_run
    group by config_id
),

config_rows as (
    select
        'config' as level,
        p.rq,
        p.config_id,
        1 as configs,
        p.k as n_runs,
        p.batches,
        p.n_total as windows,
        p.windows_min,
        p.windows_max,
        p.n0,
        exp(p.mean_of_means) as throughput_gm,
        p.ms_between,
        p.ms_within,
        p.df_between,
        p.df_within,
        p.s2_within,
        p.s2_run,
        p.icc,
        p.f_stat,
        p.f_p,
        p.f_p < getvariable('vc_alpha') as run_effect,
        (p.f_p < getvariable('vc_alpha'))::bigint as run_effect_configs,
        (p.s2_run = 0)::bigint as s2_run_zero_configs,
        p.window_s,
        p.run_cost_s,
        p.windows_opt,
        d.runs_needed,
        d.runs_needed_opt,
        case when p.windows_min = p.windows_max
            then 'one-way random-effects ANOVA, balanced (' || p.windows_min || ' windows per run: Kalibera & Jones T1², T2²)'
            else 'one-way random-effects ANOVA, unbalanced (' || p.windows_min || '–' || p.windows_max || ' windows per run, n0 ' || num_txt(p.n0) || ')'
        end || ' on ln(window throughput); F test df ' || p.df_between || ', ' || p.df_within as method,
        concat_ws('; ',
            case when p.s2_run = 0 then
                'S_r² estimated 0: these runs differ no more than their windows predict (no run effect seen; with few runs that does not show there is none)'
            end,
            case when a.usable > p.k then (a.usable - p.k) || ' usable run(s) with fewer than 2 clean windows left out' end,
            case when getvariable('vc_run_cost_s') is not null then 'run cost from vc_run_cost_s'
                 when p.run_cost_s is null then 'no run wall time: windows_opt needs vc_run_cost_s' end
        ) as reason
    from planned as p
    left join needed as d
        on d.config_id = p.config_id
    left join all_runs as a
        on a.config_id = p.config_id
),

rq_rows as (
    select
        'rq' as level,
        rq,
        count(*) as configs,
        sum(n_runs) as n_runs,
        sum(windows) as windows,
        min(windows_min) as windows_min,
        max(windows_max) as windows_max,
        median(s2_within) as s2_within,
        median(s2_run) as s2_run,
        median(icc) as icc,
        count(*) filter (where run_effect) as run_effect_configs,
        count(*) filter (where s2_run = 0) as s2_run_zero_configs,
        median(window_s) as window_s,
        median(run_cost_s) as run_cost_s,
        median(windows_opt) as windows_opt,
        max(runs_needed) as runs_needed,
        max(runs_needed_opt) as runs_needed_opt,
        'medians over the configurations (s2_within, s2_run, icc, window_s, run_cost_s, windows_opt); runs_needed the largest' as method,
        count(*) filter (where run_effect) || ' of ' || count(*) || ' configuration(s) with a run effect (F test at '
            || num_txt(getvariable('vc_alpha')) || '), ' || count(*) filter (where s2_run = 0) || ' with S_r² = 0' as reason
    from config_rows
    group by rq
),

not_split as (
    select
        'not split' as level,
        rq,
        config_id,
        1 as configs,
        usable as n_runs,
        batches,
        n_total as windows,
        windows_min,
        windows_max,
        case
            when usable = 1 then 'one run: no between-run variance'
            else 'only ' || with_windows || ' of ' || usable || ' usable runs with 2 or more clean windows: no split'
        end as reason
    from all_runs
    where with_windows < 2
),

final as (
    select * from config_rows
    union all by name
    select * from rq_rows
    union all by name
    select * from not_split
)

select * from final
order by case level when 'config' then 1 when 'rq' then 2 else 3 end, rq, config_id
