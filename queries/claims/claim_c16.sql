-- name: claim_c16
-- description: C16 units: the async configuration at queue depth c16_queue_depth against each deeper queue (equal in all else); the throughput ratio, at least c16_min_ratio.
-- inputs: config_compare, config_stats
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C16 "Queue depth 2 often beats deeper queues": thr(q) / thr(deeper) >=
-- c16_min_ratio for every deeper queue (test at_least).
create or replace macro claim_c16(configs, stats) as table
select
    'C16' as claim_id,
    'q' || a.queue_depth || ' ' || a.config_id || ' / q' || d.queue_depth || ' ' || d.config_id as unit,
    'at_least' as test,
    getvariable('c16_min_ratio') as edge_lo,
    getvariable('c16_min_ratio') as edge_hi,
    'log' as scale,
    [contrast_term(a.config_id, 'clean_throughput', 1, 'log'), contrast_term(d.config_id, 'clean_throughput', -1, 'log')] as terms,
    'ratio' as value_unit,
    'q' || a.queue_depth || ' ' || a.config_id || ' ' || num_txt(a.thr) || ' img/s n=' || a.thr_n
        || ' vs q' || d.queue_depth || ' ' || d.config_id || ' ' || num_txt(d.thr) || ' n=' || d.thr_n || ': ratio' as evidence
from query_table(configs) as a
join query_table(configs) as d
    on d.k_q = a.k_q
where a.pipeline = 'async'
    and a.queue_depth = getvariable('c16_queue_depth')
    and d.queue_depth > a.queue_depth
    and a.thr > 0 and d.thr > 0;
