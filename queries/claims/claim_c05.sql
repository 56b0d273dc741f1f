-- name: claim_c05
-- description: C5 units: each pair of adjacent depths (all else equal); the utilisation of the deeper model minus that of the shallower, at least -c5_max_drop.
-- inputs: config_compare, config_stats, claim_busy_metric
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C5 "Deeper models keep better performance": gpu_busy(d') - gpu_busy(d)
-- >= -c5_max_drop for adjacent depths d < d' (test at_least, raw scale).
create or replace macro claim_c05(configs, stats) as table
with
    busy as (
        select c.*, s.median as b, s.n as b_n
        from query_table(configs) as c
        join query_table(stats) as s
            on s.config_id = c.config_id and s.metric = claim_busy_metric()
        where c.depth is not null
    ),
    pairs as (
        select
            lag(config_id) over w as cfg_shallow,
            config_id as cfg_deep,
            lag(depth) over w as d_shallow,
            depth as d_deep,
            lag(b) over w as b_shallow,
            b as b_deep
        from busy
        window w as (partition by k_depth order by depth)
    )
select
    'C5' as claim_id,
    'depth ' || d_shallow || ' ' || cfg_shallow || ' -> depth ' || d_deep || ' ' || cfg_deep as unit,
    'at_least' as test,
    -getvariable('c5_max_drop') as edge_lo,
    -getvariable('c5_max_drop') as edge_hi,
    'raw' as scale,
    [contrast_term(cfg_deep, claim_busy_metric(), 1, 'raw'), contrast_term(cfg_shallow, claim_busy_metric(), -1, 'raw')] as terms,
    'fraction (difference)' as value_unit,
    'depth ' || d_shallow || ' ' || cfg_shallow || ' busy ' || num_txt(b_shallow)
        || ' -> depth ' || d_deep || ' ' || cfg_deep || ' ' || num_txt(b_deep) || ': change' as evidence
from pairs
where d_shallow is not null;
