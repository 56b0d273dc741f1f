-- name: claim_c03
-- description: C3 units: in each group of configurations differing only in hidden size, the step in utilisation c3_hidden_below -> c3_hidden_above against every other step between adjacent hidden sizes.
-- inputs: config_compare, config_stats, claim_busy_metric
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C3 "A clear threshold around hidden 768": the largest step in GPU busy
-- between adjacent hidden sizes (all else equal) is the one from
-- c3_hidden_below to c3_hidden_above. Each unit is the difference
-- (threshold step) - (another step) over the run values of the three or
-- four configurations involved; it must be > 0 for every other step
-- (test beyond 0, raw scale). A group needs the threshold step and at
-- least one other.
create or replace macro claim_c03(configs, stats) as table
with
    busy as (
        select c.*, s.median as b, s.n as b_n
        from query_table(configs) as c
        join query_table(stats) as s
            on s.config_id = c.config_id and s.metric = claim_busy_metric()
        where c.hidden is not null
    ),
    steps as (
        select
            k_hidden as grp,
            coalesce(rq, '-') || ' patch ' || coalesce(cast(patch as varchar), '-')
                || ' depth ' || coalesce(cast(depth as varchar), '-') as label,
            lag(config_id) over w as cfg_from,
            config_id as cfg_to,
            lag(hidden) over w as h_from,
            hidden as h_to,
            b - lag(b) over w as step
        from busy
        window w as (partition by k_hidden order by hidden)
    ),
    marked as (
        select
            *,
            h_from = getvariable('c3_hidden_below') and h_to = getvariable('c3_hidden_above') as is_target
        from steps
        where h_from is not null
    )
select
    'C3' as claim_id,
    t.label || ': ' || t.h_from || '->' || t.h_to || ' vs ' || o.h_from || '->' || o.h_to as unit,
    'beyond' as test,
    0.0 as edge_lo,
    0.0 as edge_hi,
    'raw' as scale,
    [
        contrast_term(t.cfg_to, claim_busy_metric(), 1, 'raw'), contrast_term(t.cfg_from, claim_busy_metric(), -1, 'raw'),
        contrast_term(o.cfg_to, claim_busy_metric(), -1, 'raw'), contrast_term(o.cfg_from, claim_busy_metric(), 1, 'raw')
    ] as terms,
    'fraction (step minus step)' as value_unit,
    t.label || ': step ' || t.h_from || '->' || t.h_to || ' ' || printf('%+.3f', t.step)
        || ' minus step ' || o.h_from || '->' || o.h_to || ' ' || printf('%+.3f', o.step) as evidence
from marked as t
join marked as o
    on o.grp = t.grp and not o.is_target
where t.is_target;
