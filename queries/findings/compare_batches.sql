-- name: compare_batches
-- description: What changed between two collections (BASE and NEW): for every configuration present in both, matched on its effective settings, each headline metric as a ratio NEW/BASE with an interval over runs and a verdict against a threshold, with the kernels whose time per image changed most; configurations found on one side only are listed too.
-- inputs: run_config, run_values, runs, batches, run_kernel_time, runs_left_out
-- rq: -
-- param: base = null  -- the BASE side: a batch id (a * matches any text), or key=value with key batch, card (part of the GPU name), plan, host, torch, driver or cuda (both null: every plan's newest batch against the one before)
-- param: new = null  -- the NEW side, written as base
-- param: threshold = 0.03  -- relative change below which nothing changed (asv compare's factor): a change must reach a ratio above 1 + threshold or below 1 / (1 + threshold)
-- param: conf_level = 0.95  -- confidence level of each ratio interval, before the family correction
-- param: family = 'bonferroni' | 'none'  -- bonferroni: the intervals of one metric hold simultaneously over all its compared configurations (level 1 - (1 - conf_level) / m); none: each at conf_level
-- param: top_kernels = 3  -- kernels named for each decisive change
--
-- Sides. With base and new both null (the default, and what the report
-- shows), every group of batches of one plan, profile and --only filter
-- that holds two or more batches compares its newest batch (by started_at)
-- as NEW against the one before as BASE; the comparison column names the
-- pair. Otherwise every usable run (run_values: status ok, not flagged) whose batch
-- or run matches a selector is on that side; a run on both sides is an
-- error (the two selectors overlap). A configuration is the settings_key of
-- run_config: the effective settings alone, so the same configuration
-- collected by another plan, under another run name or on another card
-- matches.
--
-- The unit is the run (its own process): each run gives one value per
-- metric (run_values), and the interval is over those values, never over
-- the clean windows inside a run.
--
-- Metrics, with the direction that is better:
--   clean_throughput     img/s, untraced (median of the run's clean windows)   higher: faster / slower
--   latency_p50_ms       per-batch latency p50, traced window                 lower: faster / slower
--   latency_p99_ms       per-batch latency p99, traced window                 lower: faster / slower
--   energy_per_image_j   J per image over the clean windows (NVML)           lower: better / worse
--   gpu_busy             |U kernels ∩ W| / |W| in the traced window           none: higher / lower
--   kernels_per_image    kernels launched in W per image                      lower: better / worse
--
-- Interval (the method column): Welch's t on the log of the run values:
-- d = mean(ln new) - mean(ln base), se = sqrt(s_new²/n_new + s_base²/n_base),
-- Welch–Satterthwaite degrees of freedom, ratio = exp(d) (the ratio of
-- geometric means) in [exp(d - t·se), exp(d + t·se)]. Run-to-run variation
-- of throughput is multiplicative, so its log is close to normal and the
-- interval keeps its level (queries/stats_test.go checks the coverage by
-- simulation). With family = 'bonferroni' each metric's intervals use the
-- level 1 - (1 - conf_level) / m over its m compared configurations, so a
-- CI gate that fails when any configuration got slower keeps its false
-- alarm rate at 1 - conf_level. Fewer than 2 runs on a side give no
-- interval.
--
-- Verdict, as asv compare reads a change: a change when the interval
-- excludes 1 and the estimate is beyond the threshold (ratio > 1 + t or
-- < 1 / (1 + t)); 'no change' when the whole interval lies inside
-- [1 / (1 + t), 1 + t] (an equivalence test); otherwise 'inconclusive',
-- with the reason. A change is named by its direction: faster / slower for
-- throughput and latency, better / worse for energy and kernels per image,
-- higher / lower for GPU busy. Configurations on one side only get the
-- verdict 'only in base' or 'only in new' and no metric.
--
-- Runs left out. An ok run that the instrument left out (runs_left_out:
-- an invalid flag such as window_cov, window_trend or clock_drop, a copy,
-- settings that disagree with the trace) gives no value, but it is
-- counted: base_left / new_left, and the reason of an 'only in …' or
-- 'inconclusive' row says how many runs of that side were left out and
-- why, so "not collected" and "collected, but not trustworthy" read
-- differently. A configuration whose runs were all left out on both sides
-- gets the verdict 'left out'.
--
-- kernels: for a decisive change, the top_kernels kernel names whose
-- median GPU time per image (run_kernel_time, traced runs) changed most,
-- as 'name base→new µs/img (±x %)'.

with

selectors as (
    select 'base' as side, getvariable('base') as spec
    union all
    select 'new', getvariable('new')
),

parsed as (
    select
        side,
        spec,
        case when contains(spec, '=') then lower(trim(split_part(spec, '=', 1))) else 'batch' end as key,
        case when contains(spec, '=') then trim(substr(spec, strpos(spec, '=') + 1)) else trim(spec) end as val
    from selectors
),

checked as (
    select
        *,
        case
            when getvariable('base') is null and getvariable('new') is null then false
            when spec is null or trim(spec) = '' then error('compare_batches: param ' || side || ' is not set: give both base and new (a batch id or key=value), or neither')
            when key not in ('batch', 'card', 'plan', 'host', 'torch', 'driver', 'cuda')
                then error('compare_batches: param ' || side || ' = ''' || spec || ''': unknown key ''' || key || ''' (batch, card, plan, host, torch, driver, cuda)')
            else true
        end as ok
    from parsed
),

run_facts as (
    select
        r.batch_id,
        r.run_id,
        r.gpu_name,
        r.host,
        r.torch,
        r.driver,
        r.cuda,
        b.plan
    from runs as r
    left join batches as b
        on b.batch_id = r.batch_id
),

explicit_sides as (
    select distinct
        f.batch_id,
        f.run_id,
        c.side,
        coalesce(getvariable('base'), '') || ' → ' || coalesce(getvariable('new'), '') as comparison
    from run_facts as f
    join checked as c
        on c.ok and case c.key
            when 'batch' then f.batch_id like replace(replace(c.val, '%', '\%'), '*', '%') escape '\'
            when 'card' then contains(lower(f.gpu_name), lower(c.val))
            when 'plan' then f.plan = c.val
            when 'host' then f.host = c.val
            when 'torch' then f.torch = c.val
            when 'driver' then f.driver = c.val
            when 'cuda' then f.cuda = c.val
        end
),

batch_order as (
    select
        batch_id,
        plan,
        row_number() over same_plan as recency,
        count(*) over (partition by plan, coalesce(profile, ''), coalesce(filter, '')) as siblings,
        lead(batch_id) over same_plan as previous
    from batches
    where plan is not null
    window same_plan as (partition by plan, coalesce(profile, ''), coalesce(filter, '') order by started_at desc nulls last, batch_id desc)
),

auto_pairs as (
    select plan || ': ' || previous || ' → ' || batch_id as comparison, previous as base_batch, batch_id as new_batch
    from batch_order
    where recency = 1 and siblings >= 2
      and getvariable('base') is null and getvariable('new') is null
),

auto_sides as (
    select r.batch_id, r.run_id, case when r.batch_id = p.new_batch then 'new' else 'base' end as side, p.comparison
    from runs as r
    join auto_pairs as p
        on r.batch_id in (p.base_batch, p.new_batch)
),

sided as (
    select * from explicit_sides
    union all
    select * from auto_sides
),

overlap as (
    select
        count(*) as runs,
        case when count(*) > 0
            then error('compare_batches: ' || count(*) || ' run(s) match both base and new, e.g. ' || min(batch_id || '/' || run_id) || ': the selectors overlap')
        end as fail
    from (
        select batch_id, run_id from sided
        group by batch_id, run_id
        having count(distinct side) > 1
    )
),

metric_defs as (
    select * from (values
        ('clean_throughput', 'img/s', 'higher', 1),
        ('latency_p50_ms', 'ms', 'lower', 2),
        ('latency_p99_ms', 'ms', 'lower', 3),
        ('energy_per_image_j', 'J/img', 'lower', 4),
        ('gpu_busy', 'fraction', null, 5),
        ('kernels_per_image', 'kernels/img', 'lower', 6)
    ) as t(metric, unit, better, metric_order)
),

all_side_runs as (
    select
        s.comparison, s.side, s.batch_id, s.run_id, c.settings_key, c.rq, c.gpu_name,
        exists (select 1 from run_values as v where v.batch_id = s.batch_id and v.run_id = s.run_id) as usable
    from sided as s
    join run_config as c
        on c.batch_id = s.batch_id and c.run_id = s.run_id
    cross join overlap as o
    where c.settings_key is not null
      and o.fail is null
      and c.status = 'ok'
),

side_runs as (
    select comparison, side, batch_id, run_id, settings_key, rq, gpu_name
    from all_side_runs
    where usable
),

-- ok runs of a side that gave no value, with the flags that left them out
left_runs as (
    select
        r.comparison, r.settings_key, r.side,
        any_value(r.rq) as rq,
        any_value(r.gpu_name) as gpu_name,
        count(distinct r.run_id || '/' || r.batch_id) as n,
        string_agg(distinct coalesce(l.reason, 'no values'), ', ' order by coalesce(l.reason, 'no values')) as reasons
    from all_side_runs as r
    left join runs_left_out as l
        on l.batch_id = r.batch_id and l.run_id = r.run_id
    where not r.usable
    group by r.comparison, r.settings_key, r.side
),

left_text as (
    select
        comparison, settings_key,
        any_value(rq) as rq,
        any_value(gpu_name) filter (where side = 'base') as base_gpu,
        any_value(gpu_name) filter (where side = 'new') as new_gpu,
        coalesce(sum(n) filter (where side = 'base'), 0) as base_left,
        coalesce(sum(n) filter (where side = 'new'), 0) as new_left,
        string_agg(format('{} run(s) in {} left out ({})', n, side, reasons), '; ' order by side) as text
    from left_runs
    group by comparison, settings_key
),

values_in as (
    select r.comparison, r.side, r.settings_key, v.metric, v.v
    from side_runs as r
    join run_values as v
        on v.batch_id = r.batch_id and v.run_id = r.run_id
    semi join metric_defs as d
        on d.metric = v.metric
    where v.v > 0
),

per_side as (
    select
        comparison,
        settings_key,
        metric,
        side,
        count(*) as n,
        median(v) as med,
        avg(ln(v)) as mean_log,
        var_samp(ln(v)) as var_log
    from values_in
    group by comparison, settings_key, metric, side
),

pairs as (
    select
        b.comparison,
        b.settings_key,
        b.metric,
        b.n as base_n,
        n.n as new_n,
        b.med as base_median,
        n.med as new_median,
        n.mean_log - b.mean_log as d,
        sqrt(n.var_log / n.n + b.var_log / b.n) as se,
        welch_df(
            n.var_log / n.n + b.var_log / b.n,
            pow(n.var_log / n.n, 2) / nullif(n.n - 1, 0) + pow(b.var_log / b.n, 2) / nullif(b.n - 1, 0),
            least(n.n, b.n) - 1) as df
    from per_side as b
    join per_side as n
        on n.comparison = b.comparison and n.settings_key = b.settings_key and n.metric = b.metric
    where b.side = 'base' and n.side = 'new'
),

family as (
    select
        comparison,
        metric,
        count(*) filter (where base_n >= 2 and new_n >= 2) as m
    from pairs
    group by comparison, metric
),

levels as (
    select
        p.*,
        case when getvariable('family') = 'bonferroni'
            then 1 - (1 - getvariable('conf_level')) / greatest(f.m, 1)
            else getvariable('conf_level')
        end as level,
        f.m
    from pairs as p
    join family as f using (comparison, metric)
),

quantile_args as (
    -- the (1 + level) / 2 quantile of t with the Welch df (t_quantiles)
    select *, 1 - (1 - level) / 2 as p
    from levels
),

intervals as (
    select
        * exclude (p, t),
        exp(d) as ratio,
        case when base_n >= 2 and new_n >= 2 then exp(t_interval(d, se, t).lo) end as ci_low,
        case when base_n >= 2 and new_n >= 2 then exp(t_interval(d, se, t).hi) end as ci_high
    from t_quantiles('quantile_args')
),

judged as (
    select
        i.*,
        d.unit,
        d.better,
        d.metric_order,
        1 + getvariable('threshold') as up,
        1 / (1 + getvariable('threshold')) as down,
        case
            when i.ci_low is null then null
            when i.ci_low > 1 and i.ratio > 1 + getvariable('threshold') then 'up'
            when i.ci_high < 1 and i.ratio < 1 / (1 + getvariable('threshold')) then 'down'
            when i.ci_low >= 1 / (1 + getvariable('threshold')) and i.ci_high <= 1 + getvariable('threshold') then 'same'
        end as move
    from intervals as i
    join metric_defs as d using (metric)
),

verdicts as (
    select
        *,
        case
            when move = 'same' then 'no change'
            when move is null then 'inconclusive'
            when better is null then case move when 'up' then 'higher' else 'lower' end
            when metric in ('clean_throughput', 'latency_p50_ms', 'latency_p99_ms') then
                case when (move = 'up') = (better = 'higher') then 'faster' else 'slower' end
            else case when (move = 'up') = (better = 'higher') then 'better' else 'worse' end
        end as verdict,
        case
            when base_n < 2 or new_n < 2 then
                format('{} run(s) in base, {} in new: an interval needs >= 2 runs a side; the estimate {:.3f} ({:+.1f} %) is {}',
                    base_n, new_n, ratio, 100 * (ratio - 1),
                    case when ratio > up or ratio < down then 'beyond the threshold' else 'within the threshold' end)
            when move = 'same' then format('interval inside [{:.4f}, {:.4f}]', down, up)
            when move is not null then format('interval excludes 1 and the estimate is beyond {:.1f} %', 100 * getvariable('threshold'))
            when ci_low > 1 or ci_high < 1 then format('a change, but the estimate {:.3f} is within the threshold while the interval reaches beyond it', ratio)
            else format('the interval [{:.3f}, {:.3f}] holds both 1 and a change beyond the threshold', ci_low, ci_high)
        end as reason
    from judged
),

keys_sides as (
    select comparison, settings_key, any_value(rq) as rq,
        any_value(gpu_name) filter (where side = 'base') as base_gpu,
        any_value(gpu_name) filter (where side = 'new') as new_gpu,
        count(*) filter (where side = 'base') as base_runs,
        count(*) filter (where side = 'new') as new_runs
    from side_runs
    group by comparison, settings_key
),

kernel_side as (
    select r.comparison, r.side, r.settings_key, k.short_name, median(k.time_per_image_ns) as ns
    from side_runs as r
    join run_kernel_time as k
        on k.batch_id = r.batch_id and k.run_id = r.run_id
    group by r.comparison, r.side, r.settings_key, k.short_name
),

kernel_delta as (
    select
        coalesce(b.comparison, n.comparison) as comparison,
        coalesce(b.settings_key, n.settings_key) as settings_key,
        coalesce(b.short_name, n.short_name) as short_name,
        coalesce(b.ns, 0) as base_ns,
        coalesce(n.ns, 0) as new_ns
    from (select * from kernel_side where side = 'base') as b
    full join (select * from kernel_side where side = 'new') as n
        on n.comparison = b.comparison and n.settings_key = b.settings_key and n.short_name = b.short_name
),

kernel_ranked as (
    select
        *,
        row_number() over (partition by comparison, settings_key order by abs(new_ns - base_ns) desc, short_name) as rank
    from kernel_delta
),

kernel_text as (
    select
        comparison,
        settings_key,
        string_agg(
            format('{} {:.2f}→{:.2f} µs/img ({})', short_name, base_ns / 1e3, new_ns / 1e3,
                case when base_ns > 0 then printf('%+.0f %%', 100 * (new_ns / base_ns - 1)) else 'new' end),
            '; ' order by rank) as kernels
    from kernel_ranked
    where rank <= getvariable('top_kernels')
    group by comparison, settings_key
),

compared as (
    select
        v.comparison,
        v.settings_key as config,
        k.rq,
        v.metric,
        v.unit,
        v.better,
        k.base_gpu,
        k.new_gpu,
        v.base_n,
        v.new_n,
        v.base_median,
        v.new_median,
        v.ratio,
        v.ci_low,
        v.ci_high,
        case when v.ci_low is not null then v.level end as conf_level,
        case when v.ci_low is not null then
            'Welch t on log run values' ||
            case when getvariable('family') = 'bonferroni' and v.m > 1
                then format(', Bonferroni over {} configurations (simultaneous {:.0f} %)', v.m, 100 * getvariable('conf_level'))
                else '' end
        end as method,
        v.verdict,
        case when v.verdict = 'inconclusive' and lt.text is not null
            then v.reason || '; ' || lt.text
            else v.reason
        end as reason,
        case when v.verdict not in ('no change', 'inconclusive') then t.kernels end as kernels,
        v.metric_order
    from verdicts as v
    join keys_sides as k using (comparison, settings_key)
    left join kernel_text as t using (comparison, settings_key)
    left join left_text as lt using (comparison, settings_key)
),

one_side as (
    select
        comparison,
        settings_key as config,
        keys_sides.rq,
        null as metric,
        null as unit,
        null as better,
        keys_sides.base_gpu,
        keys_sides.new_gpu,
        base_runs as base_n,
        new_runs as new_n,
        null::double as base_median,
        null::double as new_median,
        null::double as ratio,
        null::double as ci_low,
        null::double as ci_high,
        null::double as conf_level,
        null as method,
        case when new_runs = 0 then 'only in base' else 'only in new' end as verdict,
        case
            when new_runs = 0 and coalesce(lt.new_left, 0) > 0 then 'no usable run in new: ' || lt.text
            when new_runs = 0 then 'no run of this configuration in new'
            when coalesce(lt.base_left, 0) > 0 then 'no usable run in base: ' || lt.text
            else 'no run of this configuration in base'
        end as reason,
        null as kernels,
        0 as metric_order
    from keys_sides
    left join left_text as lt using (comparison, settings_key)
    where base_runs = 0 or new_runs = 0
),

-- collected on one side or both, but every run of it left out
left_only as (
    select
        comparison,
        settings_key as config,
        lt.rq,
        null as metric,
        null as unit,
        null as better,
        lt.base_gpu,
        lt.new_gpu,
        0 as base_n,
        0 as new_n,
        null::double as base_median,
        null::double as new_median,
        null::double as ratio,
        null::double as ci_low,
        null::double as ci_high,
        null::double as conf_level,
        null as method,
        'left out' as verdict,
        'no usable run on either side: ' || lt.text as reason,
        null as kernels,
        0 as metric_order
    from left_text as lt
    anti join keys_sides as k using (comparison, settings_key)
),

final as (
    select * exclude (metric_order)
    from (select * from compared union all select * from one_side union all select * from left_only)
    order by
        case when verdict like 'only%' then 1 when verdict = 'left out' then 2 else 0 end,
        comparison, rq, config, metric_order
)

select * from final
