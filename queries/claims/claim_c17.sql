-- name: claim_c17
-- description: C17 units: each pair (preprocess cpu, gpu) equal in all else; the throughput ratio cpu/gpu against [c17_min_ratio, c17_max_ratio].
-- inputs: config_compare, config_stats
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C17 "CPU preprocessing slightly outperforms GPU preprocessing": cpu/gpu
-- in the band (equivalence; the published "(1.00, 1.05]" is tested as the
-- closed band, an open end making no difference to an interval test).
create or replace macro claim_c17(configs, stats) as table
select
    'C17' as claim_id,
    'cpu ' || c.config_id || ' / gpu ' || g.config_id as unit,
    'band' as test,
    getvariable('c17_min_ratio') as edge_lo,
    getvariable('c17_max_ratio') as edge_hi,
    'log' as scale,
    [contrast_term(c.config_id, 'clean_throughput', 1, 'log'), contrast_term(g.config_id, 'clean_throughput', -1, 'log')] as terms,
    'ratio' as value_unit,
    'cpu ' || c.config_id || ' ' || num_txt(c.thr) || ' img/s n=' || c.thr_n
        || ' vs gpu ' || g.config_id || ' ' || num_txt(g.thr) || ' n=' || g.thr_n || ': ratio' as evidence
from query_table(configs) as c
join query_table(configs) as g
    on g.k_pre = c.k_pre
where c.preprocess = 'cpu'
    and g.preprocess = 'gpu'
    and c.thr > 0 and g.thr > 0;
