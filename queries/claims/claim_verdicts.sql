-- name: claim_verdicts
-- description: One row per claim with units: its verdict from its tested units (claim_tests), the deciding unit's estimate and interval with conf_level and method, the fewest runs on a side, the runs per side that would decide it, and a short reason.
-- inputs: claim_units, claim_tests, config_compare
--
-- The one place that turns units into a verdict:
--   refuted       at least one unit refuted (at the Bonferroni level),
--   holds         every unit holds,
--   inconclusive  otherwise.
-- The deciding unit (whose numbers the row shows) is the first refuted
-- unit, else the inconclusive unit farthest on the claim's wrong side,
-- else the unit that holds with the least margin. runs_needed (per side)
-- is, for an inconclusive claim whose estimates point to refuted, the
-- fewest runs that would refute it on one unit; otherwise the most any
-- inconclusive unit needs to hold (null when one of them cannot be decided
-- at any n, its estimate sitting on an edge). n_runs_min is the fewest
-- runs on any side of any unit. same_session is true when every unit's
-- runs come from one batch. runs and flagged_runs add up config_compare's
-- counts over the claim's configurations (usable runs, and ok runs that
-- usable_runs leaves out of every number: named by runs_flagged, invalid
-- by run_validity, or copies).

-- claim_pct(level): a confidence level as text, e.g. 0.9 -> '90 %'.
create or replace macro claim_pct(level) as printf('%.4g', 100 * level) || ' %';

-- claim_far(scale, est, edge): how far an estimate lies from an edge, as
-- text: 'is 17.3x below 0.97' on a log scale (or '5.1 % below' when less
-- than 1.5x), 'is 0.2 below 0' on a raw one.
create or replace macro claim_far(scale, est, edge) as
    case
        when est is null or edge is null then ''
        when scale = 'log' and est > 0 and edge > 0 and greatest(est / edge, edge / est) >= 1.5 then
            'is ' || printf('%.3g', greatest(est / edge, edge / est)) || 'x ' || case when est < edge then 'below ' else 'above ' end || num_txt(edge)
        when scale = 'log' and est > 0 and edge > 0 then
            'is ' || printf('%.2g', 100 * abs(est / edge - 1)) || ' % ' || case when est < edge then 'below ' else 'above ' end || num_txt(edge)
        else 'is ' || num_txt(abs(est - edge)) || case when est < edge then ' below ' else ' above ' end || num_txt(edge)
    end;

create or replace macro claim_verdicts(configs, stats) as table
with
    unit_rows as materialized (
        select * from claim_units(configs, stats)
    ),
    tested as materialized (
        select * from claim_tests('unit_rows', stats)
    ),
    ranked as (
        select
            *,
            row_number() over (
                partition by claim_id
                order by
                    case verdict when 'refuted' then 0 when 'inconclusive' then 1 else 2 end,
                    badness desc nulls last,
                    unit
            ) as pos
        from tested
    ),
    per_claim as (
        select
            claim_id,
            count(*) as units,
            count(*) filter (where verdict = 'holds') as n_holds,
            count(*) filter (where verdict = 'refuted') as n_refuted,
            count(*) filter (where verdict = 'inconclusive') as n_inconclusive,
            min(n_min) as n_runs_min,
            count(*) filter (where not same_session) = 0 as same_session,
            count(*) filter (where verdict = 'inconclusive' and toward_refuted) as n_toward_refuted,
            min(runs_needed) filter (where verdict = 'inconclusive' and toward_refuted) as refute_needed,
            count(*) filter (where verdict = 'inconclusive' and runs_needed is null) as no_count,
            -- an estimate on an edge: no number of runs decides it
            count(*) filter (where verdict = 'inconclusive' and runs_needed is null and scale <> 'none'
                             and coalesce(distance, 0) = 0) as undecidable,
            max(runs_needed) filter (where verdict = 'inconclusive') as hold_needed,
            bool_or(assumed_cv) filter (where verdict = 'inconclusive') as assumed_cv,
            list_distinct(flatten(list(config_ids))) as config_ids,
            any_value(unit) filter (where pos = 1) as d_unit,
            any_value(verdict) filter (where pos = 1) as d_verdict,
            any_value(est) filter (where pos = 1) as est,
            any_value(lo) filter (where pos = 1) as lo,
            any_value(hi) filter (where pos = 1) as hi,
            any_value(conf_level) filter (where pos = 1) as conf_level,
            any_value(level_h) filter (where pos = 1) as level_h,
            any_value(level_r) filter (where pos = 1) as level_r,
            any_value(scale) filter (where pos = 1) as scale,
            any_value(test) filter (where pos = 1) as test,
            any_value(edge_lo) filter (where pos = 1) as edge_lo,
            any_value(edge_hi) filter (where pos = 1) as edge_hi,
            any_value(value_unit) filter (where pos = 1) as value_unit,
            any_value(n_min) filter (where pos = 1) as d_n_min,
            any_value(toward_refuted) filter (where pos = 1) as d_toward_refuted,
            any_value(cv) filter (where pos = 1) as cv,
            any_value(m) filter (where pos = 1) as m,
            any_value(evidence) filter (where pos = 1) as d_evidence,
            max(n_terms) as max_terms
        from ranked
        group by claim_id
    ),
    verdicts as materialized (
        select
            *,
            case
                when n_refuted > 0 then 'refuted'
                when n_holds = units then 'holds'
                else 'inconclusive'
            end as verdict,
            case
                when n_refuted > 0 or n_holds = units then null
                when n_toward_refuted > 0 then refute_needed
                when no_count > 0 then null
                else hold_needed
            end as runs_needed
        from per_claim
    ),
    claim_configs as (
        select claim_id, unnest(config_ids) as config_id
        from verdicts
    ),
    counts as (
        select
            u.claim_id,
            sum(c.runs) as runs,
            sum(c.flagged_runs) as flagged_runs
        from claim_configs as u
        join query_table(configs) as c
            on c.config_id = u.config_id
        group by u.claim_id
    ),
    edge_text as (
        select
            *,
            case
                when test = 'band' then '[' || num_txt(edge_lo) || ', ' || num_txt(edge_hi) || ']'
                when test = 'at_least' then '>= ' || num_txt(edge_lo)
                when edge_lo = edge_hi then '> ' || num_txt(edge_hi)
                else '> ' || num_txt(edge_hi) || ' (refuted below ' || num_txt(edge_lo) || ')'
            end as edge_txt,
            -- the edge the deciding estimate is measured against
            case
                when test = 'band' and est < edge_lo then edge_lo
                when test = 'band' and est > edge_hi then edge_hi
                when test = 'band' and est - edge_lo < edge_hi - est then edge_lo
                when test = 'band' then edge_hi
                when test = 'at_least' then edge_lo
                when est < edge_lo then edge_lo
                else edge_hi
            end as near_edge
        from verdicts
    ),
    final as (
        select
            e.claim_id,
            e.verdict,
            e.est as value,
            e.value_unit as unit,
            e.lo as ci_low,
            e.hi as ci_high,
            e.conf_level,
            case
                when e.scale = 'log' and e.max_terms = 1 then 't on log run values (df n - 1)'
                when e.scale = 'raw' and e.max_terms = 1 then 't on run values (df n - 1)'
                when e.scale = 'log' then 'Welch t on log run values (Welch-Satterthwaite df)'
                when e.scale = 'raw' then 'Welch t on run values (Welch-Satterthwaite df)'
                else 'point estimate over configuration medians, no interval: decided only with >= '
                    || getvariable('claims_min_runs') || ' runs per configuration'
            end
            || case when e.scale = 'none' then '' else
                ', alpha ' || getvariable('claims_alpha') || ' per side. holds: ' || claim_pct(e.level_h) || ' interval '
                || case e.test when 'band' then 'inside the band (TOST)' else 'above the edge' end
                || case when e.units > 1 then ' for all ' || e.units || ' units (intersection-union)' else '' end
                || '. refuted: ' || claim_pct(e.level_r) || ' interval wholly '
                || case e.test when 'band' then 'outside the band' else 'below the edge' end
                || case when e.units > 1 then ' on one unit (Bonferroni over ' || e.units || ')' else '' end
            end as method,
            e.n_runs_min,
            e.runs_needed,
            case
                when e.verdict = 'holds' then
                    case when e.scale = 'none' then 'point estimate ' || e.edge_txt
                        else claim_pct(e.level_h) || ' interval '
                            || case e.test when 'band' then 'inside the band ' else '' end || e.edge_txt
                    end
                    || case when e.units > 1 then ' for all ' || e.units || ' units' else '' end
                when e.verdict = 'refuted' then
                    e.d_unit || ': ' || case when e.scale = 'none' then 'point estimate ' || num_txt(e.est)
                        else claim_pct(e.level_r) || ' interval [' || num_txt(e.lo) || ', ' || num_txt(e.hi) || ']' end
                    || ' wholly ' || case when e.test = 'band' then 'outside ' else 'below ' end || e.edge_txt
                    || case when e.units > 1 then ' (Bonferroni over ' || e.units || ' units)' else '' end
                else
                    case
                        when e.scale = 'none' then
                            e.d_n_min || ' run' || case when e.d_n_min = 1 then '' else 's' end
                            || ' on a point of the fit (R2 has no interval)'
                        when e.d_n_min < 2 then
                            e.d_n_min || ' run' || case when e.d_n_min = 1 then '' else 's' end || ' per configuration'
                        else claim_pct(e.level_h) || ' interval [' || num_txt(e.lo_or_h) || ', ' || num_txt(e.hi_or_h) || '] is not '
                            || case e.test when 'band' then 'inside ' else '' end || e.edge_txt
                    end
                    || case
                        when e.runs_needed is not null then '; ' || e.runs_needed || case when e.scale = 'none' then ' per configuration needed' else ' per side needed' end
                            || case
                                when e.scale = 'none' then ''
                                when e.assumed_cv then ' at an assumed CV of ' || printf('%.3g', 100 * e.cv) || ' %'
                                else ' at the observed spread'
                            end
                        when e.undecidable > 0 then '; no run count decides it at this estimate'
                        else '; more than 1000 runs per side needed'
                    end
                    || case when e.d_toward_refuted then '; estimate ' || num_txt(e.est) || ' ' || claim_far(e.scale, e.est, e.near_edge) else '' end
            end
            || case when coalesce(c.flagged_runs, 0) > 0 then '; ' || c.flagged_runs || ' flagged run' || case when c.flagged_runs = 1 then '' else 's' end || ' left out' else '' end
            as reason,
            e.same_session,
            len(e.config_ids) as configs,
            coalesce(c.runs, 0) as runs,
            coalesce(c.flagged_runs, 0) as flagged_runs,
            e.d_evidence || ': ' || num_txt(e.est)
                || case when e.lo is not null then ' [' || num_txt(e.lo) || ', ' || num_txt(e.hi) || '] ' || claim_pct(e.conf_level) else '' end
                || ' | units: ' || e.n_holds || ' hold, ' || e.n_refuted || ' refuted, ' || e.n_inconclusive || ' inconclusive' as evidence
        from (select *, lo as lo_or_h, hi as hi_or_h from edge_text) as e
        left join counts as c
            on c.claim_id = e.claim_id
    )
select * from final;
