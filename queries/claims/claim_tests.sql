-- name: claim_tests
-- description: Every unit of every claim tested: its estimate over run values, its intervals with conf_level and method, its verdict, the runs per side that would decide it, and why.
-- inputs: config_stats
--
-- units and stats name relations (tables, views or CTEs) of unit rows in
-- claim_units' shape and of config_stats rows; claim_verdicts passes the
-- claims' units, stats_test.go simulated ones.
-- A unit (claims/claim_c*.sql) is a contrast: estimate = shift + Σ cᵢ·f(xᵢ)
-- over terms (configuration, metric, coefficient cᵢ, transform f: log,
-- raw or inv), each xᵢ a configuration's run values (config_stats'
-- moments; the run is the unit of replication). A ratio a/b is the log
-- contrast ln a − ln b, a difference a − b the raw one, a step against a
-- step a contrast over three or four configurations. scale 'log' turns
-- the estimate and its interval back with exp(); scale 'none' is a unit
-- whose estimate the claim file computes itself (an R² over configuration
-- medians), with no interval.
--
-- Interval (Welch): se² = Σ cᵢ²·sᵢ²/nᵢ, degrees of freedom by
-- Welch–Satterthwaite (welch_df), est ± t(1 − a, df)·se (t_quantiles). No interval
-- when a term has fewer than 2 runs or a term's configuration lacks the
-- metric: a NULL bound never decides anything.
--
-- Tests, at α = claims_alpha per side (0.05) and m units in the claim:
--   band [lo, hi]  holds: the 1 − 2α (90 %) interval inside the band (two
--                  one-sided tests, TOST); refuted: the 1 − 2α/m interval
--                  wholly outside it (Bonferroni over the m units).
--   at_least e     holds: the 90 % interval's lower end ≥ e (one-sided 5 %
--                  test); refuted: the 1 − 2α/m interval's upper end < e.
--   beyond [l, h]  holds: the 90 % interval's lower end > h; refuted: the
--                  1 − 2α/m interval's upper end < l (l = h for a plain
--                  "greater than" claim; C8 uses a gap of ± its margin).
-- A claim holds when every unit holds (an intersection–union test: each
-- unit at α, no adjustment needed) and is refuted when one unit is
-- (Bonferroni: each refutation at α/m). scale 'none' (no interval) units
-- decide on the point estimate only when every term has at least
-- claims_min_runs runs.
--
-- runs_needed (power rule): the fewest runs per side n (from 2 to 1000,
-- on a grid above 30) for which t(1 − a, df(n))·S/√n < d, where d is
-- the distance (on the contrast's scale) from the estimate to the edge it
-- must clear — the nearer band edge from inside for holds, the edge it
-- lies beyond for refuted, a = α or α/m accordingly — S² = Σ cᵢ²·sᵢ² the
-- spread of one run per side, df(n) = (n − 1)·S⁴/Σ(cᵢ²·sᵢ²)². sᵢ is the
-- observed run-to-run standard deviation; where a term has fewer than 2
-- runs it is the assumed coefficient of variation claims_assumed_cv
-- (0.05: sᵢ = 0.05 on a log scale, 0.05·|mean| on a raw one), and the
-- reason says so. Null when the estimate sits on an edge (no n decides).

-- claim_edge_t(scale, e): an edge on the contrast's scale.
create or replace macro claim_edge_t(scale, e) as
    case when scale = 'log' then ln(e) else e end;

-- claim_back(scale, x): a contrast-scale value back on the claim's scale.
create or replace macro claim_back(scale, x) as
    case when scale = 'log' then exp(x) else x end;

create or replace macro claim_tests(units, stats) as table
with
    numbered as materialized (
        select
            *,
            row_number() over (order by claim_id, unit) as uid,
            count(*) over (partition by claim_id) as m,
            getvariable('claims_alpha') as alpha,
            getvariable('claims_assumed_cv') as cv
        from query_table(units)
    ),
    terms as (
        -- a configuration named twice in one contrast (a step against the
        -- next step shares its middle configuration) is one term: its
        -- coefficients add, so its variance is counted once, correctly
        select uid, config_id, metric, tf, sum(coef) as coef
        from (select uid, unnest(terms, recursive := true) from numbered)
        group by uid, config_id, metric, tf
    ),
    term_stats as (
        select
            t.uid,
            t.config_id,
            t.coef,
            s.n,
            s.batch_ids,
            case t.tf when 'log' then s.log_mean when 'inv' then s.inv_mean else s.mean end as mu,
            case t.tf when 'log' then s.log_sd when 'inv' then s.inv_sd else s.sd end as sd,
            -- the spread one run would have at the assumed CV, on the term's scale
            case t.tf when 'log' then 1.0 when 'inv' then abs(s.inv_mean) else abs(s.mean) end as cv_scale
        from terms as t
        left join query_table(stats) as s
            on s.config_id = t.config_id and s.metric = t.metric
    ),
    unit_stats as (
        select
            uid,
            count(*) filter (where n is null or mu is null) as missing,
            count(*) filter (where coef <> 0) as n_terms,
            count(*) filter (where coef <> 0 and (n is null or n < 2 or sd is null)) as no_spread,
            min(coalesce(n, 0)) as n_min,
            sum(coef * mu) as sum_mu,
            sum(coef * coef * sd * sd / n) as w_sum,
            sum(pow(coef * coef * sd * sd / n, 2) / (n - 1)) as w2_sum,
            sum(coef * coef * sd * sd) as s2_obs,
            sum(pow(coef * coef * sd * sd, 2)) as s4_obs,
            sum(pow(coef * cv_scale, 2)) as s2_cv,
            sum(pow(coef * cv_scale, 4)) as s4_cv,
            len(list_distinct(flatten(list(batch_ids)))) as n_batches,
            list_distinct(list(config_id)) as config_ids
        from term_stats
        group by uid
    ),
    estimated as (
        select
            u.*,
            s.* exclude (uid),
            case
                when u.scale = 'none' then u.estimate
                when s.missing = 0 then coalesce(u.shift, 0) + s.sum_mu
            end as est_t,
            case when u.scale <> 'none' and s.missing = 0 and s.no_spread = 0 then sqrt(s.w_sum) end as se,
            welch_df(s.w_sum, s.w2_sum, s.n_min - 1) as df,
            1 - 2 * u.alpha as level_h,
            1 - 2 * u.alpha / u.m as level_r,
            1 - u.alpha as p_h,
            1 - u.alpha / u.m as p_r
        from numbered as u
        join unit_stats as s
            on s.uid = u.uid
    ),
    placed as materialized (
        -- where the estimate lies against the edges: which way it points,
        -- how far (on the contrast's scale) from the edge it must clear,
        -- how far on the claim's wrong side; and the spread of one run per
        -- side (observed, or at the assumed CV where a side has < 2 runs)
        select
            *,
            claim_back(scale, est_t) as est,
            case
                when est_t is null then null
                when test = 'band' then est_t < claim_edge_t(scale, edge_lo) or est_t > claim_edge_t(scale, edge_hi)
                else est_t < claim_edge_t(scale, edge_lo)
            end as toward_refuted,
            case
                when est_t is null then null
                when test = 'band' and est_t < claim_edge_t(scale, edge_lo) then claim_edge_t(scale, edge_lo) - est_t
                when test = 'band' and est_t > claim_edge_t(scale, edge_hi) then est_t - claim_edge_t(scale, edge_hi)
                when test = 'band' then least(est_t - claim_edge_t(scale, edge_lo), claim_edge_t(scale, edge_hi) - est_t)
                when test = 'at_least' then abs(est_t - claim_edge_t(scale, edge_lo))
                when est_t > claim_edge_t(scale, edge_hi) then est_t - claim_edge_t(scale, edge_hi)
                when est_t < claim_edge_t(scale, edge_lo) then claim_edge_t(scale, edge_lo) - est_t
            end as distance,
            case
                when test = 'band' then greatest(claim_edge_t(scale, edge_lo) - est_t, est_t - claim_edge_t(scale, edge_hi))
                when test = 'at_least' then claim_edge_t(scale, edge_lo) - est_t
                else claim_edge_t(scale, edge_hi) - est_t
            end as badness,
            no_spread > 0 as assumed_cv,
            case when no_spread > 0 then cv * cv * s2_cv else s2_obs end as s2,
            case when no_spread > 0 then pow(cv, 4) * s4_cv else s4_obs end as s4
        from estimated
    ),
    grid as (
        select unnest(range(2, 31) || [35, 40, 45, 50, 60, 70, 80, 90, 100, 120, 150, 200, 250, 300, 400, 500, 600, 800, 1000]) as n
    ),
    -- every t quantile the units need, computed in one place: h and r for the
    -- intervals, g for the power rule at n runs per side, df(n) =
    -- (n − 1)·S⁴/Σ(cᵢ²sᵢ²)²
    t_requests as (
        select uid, 'h' as kind, 0 as n, p_h as p, df from placed where se is not null
        union all
        select uid, 'r', 0, p_r, df from placed where se is not null
        union all
        select
            s.uid, 'g', g.n,
            1 - case when s.toward_refuted then s.alpha / s.m else s.alpha end,
            (g.n - 1) * s.s2 * s.s2 / nullif(s.s4, 0)
        from placed as s, grid as g
        where s.scale <> 'none' and s.distance > 0 and s.s2 > 0
    ),
    t_values as materialized (
        select * from t_quantiles('t_requests')
    ),
    critical as (
        select
            p.uid,
            max(v.t) filter (where v.kind = 'h') as t_h,
            max(v.t) filter (where v.kind = 'r') as t_r,
            min(v.n) filter (where v.kind = 'g' and v.t * sqrt(p.s2 / v.n) < p.distance) as runs_rule
        from placed as p
        left join t_values as v
            on v.uid = p.uid
        group by p.uid
    ),
    intervals as (
        select
            p.*,
            c.runs_rule,
            case
                when p.scale = 'none' then
                    case when p.n_min >= getvariable('claims_min_runs') then struct_pack(lo := p.est_t, hi := p.est_t) end
                when p.se is not null then t_interval(p.est_t, p.se, c.t_h)
            end as ci_h,
            case
                when p.scale = 'none' then
                    case when p.n_min >= getvariable('claims_min_runs') then struct_pack(lo := p.est_t, hi := p.est_t) end
                when p.se is not null then t_interval(p.est_t, p.se, c.t_r)
            end as ci_r
        from placed as p
        join critical as c
            on c.uid = p.uid
    ),
    back as (
        select
            *,
            claim_back(scale, ci_h.lo) as lo_h,
            claim_back(scale, ci_h.hi) as hi_h,
            claim_back(scale, ci_r.lo) as lo_r,
            claim_back(scale, ci_r.hi) as hi_r
        from intervals
    ),
    decided as (
        select
            *,
            case
                when lo_h is null or hi_h is null or lo_r is null or hi_r is null then 'inconclusive'
                when test = 'band' and lo_h >= edge_lo and hi_h <= edge_hi then 'holds'
                when test = 'band' and (hi_r < edge_lo or lo_r > edge_hi) then 'refuted'
                when test = 'at_least' and lo_h >= edge_lo then 'holds'
                when test = 'at_least' and hi_r < edge_lo then 'refuted'
                when test = 'beyond' and lo_h > edge_hi then 'holds'
                when test = 'beyond' and hi_r < edge_lo then 'refuted'
                else 'inconclusive'
            end as verdict
        from back
    ),
    final as (
        select
            claim_id,
            unit,
            test,
            edge_lo,
            edge_hi,
            scale,
            value_unit,
            m,
            est,
            -- the interval shown: the refuting one where the unit is refuted
            case when verdict = 'refuted' then lo_r else lo_h end as lo,
            case when verdict = 'refuted' then hi_r else hi_h end as hi,
            case
                when scale = 'none' or lo_h is null then null
                when verdict = 'refuted' then level_r
                else level_h
            end as conf_level,
            lo_h, hi_h, lo_r, hi_r, level_h, level_r,
            verdict,
            toward_refuted,
            badness,
            distance,
            n_min,
            n_terms,
            n_batches = 1 as same_session,
            n_batches,
            assumed_cv,
            cv,
            case
                when verdict <> 'inconclusive' then null
                when scale = 'none' then greatest(getvariable('claims_min_runs'), n_min)
                -- (greatest skips a null: an estimate on the edge stays null)
                when runs_rule is null then null
                else greatest(runs_rule, n_min + 1)
            end as runs_needed,
            config_ids,
            evidence,
            df
        from decided
    )
select * from final;
