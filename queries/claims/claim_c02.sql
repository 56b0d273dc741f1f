-- name: claim_c02
-- description: C2 units: each configuration with hidden = c2_hidden; its utilisation (claim_busy_metric) against the band [c2_min_busy, c2_max_busy].
-- inputs: config_compare, config_stats, claim_busy_metric
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C2 "Hidden-384 models are limited to 85-88 % efficiency regardless of
-- other settings": every such configuration's GPU busy fraction lies in
-- the band (equivalence test).
create or replace macro claim_c02(configs, stats) as table
select
    'C2' as claim_id,
    c.config_id as unit,
    'band' as test,
    getvariable('c2_min_busy') as edge_lo,
    getvariable('c2_max_busy') as edge_hi,
    'log' as scale,
    [contrast_term(c.config_id, claim_busy_metric(), 1, 'log')] as terms,
    'fraction' as value_unit,
    c.config_id || ' (hidden ' || c.hidden || '): ' || claim_busy_metric() || ' median ' || num_txt(s.median) || ' n=' || s.n as evidence
from query_table(configs) as c
    join query_table(stats) as s
        on s.config_id = c.config_id and s.metric = claim_busy_metric()
where c.hidden = getvariable('c2_hidden') and s.median > 0;
