-- name: claim_c01
-- description: C1 units: each configuration with hidden >= c1_min_hidden; its utilisation (claim_busy_metric) against c1_min_busy.
-- inputs: config_compare, config_stats, claim_busy_metric
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C1 "Models with hidden >= 768 reach 97-99 % compute utilisation": every
-- such configuration's GPU busy fraction is at least c1_min_busy. Test
-- at_least on the log scale (a level, not a comparison); evidence also
-- gives the seed-compatible utilisation (sum of kernel time / kernel span).
create or replace macro claim_c01(configs, stats) as table
select
    'C1' as claim_id,
    c.config_id as unit,
    'at_least' as test,
    getvariable('c1_min_busy') as edge_lo,
    getvariable('c1_min_busy') as edge_hi,
    'log' as scale,
    [contrast_term(c.config_id, claim_busy_metric(), 1, 'log')] as terms,
    'fraction' as value_unit,
    c.config_id || ' (hidden ' || c.hidden || '): ' || claim_busy_metric() || ' median ' || num_txt(s.median)
        || ' n=' || s.n || ', seed utilisation ' || num_txt(c.util) as evidence
from query_table(configs) as c
    join query_table(stats) as s
        on s.config_id = c.config_id and s.metric = claim_busy_metric()
where c.hidden >= getvariable('c1_min_hidden') and s.median > 0;
