-- name: claim_c15
-- description: C15 units: each async configuration against the sync one equal in all else but pipeline and queue depth; the throughput ratio async/sync against [c15_min_ratio, c15_max_ratio].
-- inputs: config_compare, config_stats
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C15 "Basic sync and async pipelines perform alike": async/sync in the
-- band (equivalence), for every queue depth of async.
create or replace macro claim_c15(configs, stats) as table
select
    'C15' as claim_id,
    'async q' || a.queue_depth || ' ' || a.config_id || ' / sync ' || s.config_id as unit,
    'band' as test,
    getvariable('c15_min_ratio') as edge_lo,
    getvariable('c15_max_ratio') as edge_hi,
    'log' as scale,
    [contrast_term(a.config_id, 'clean_throughput', 1, 'log'), contrast_term(s.config_id, 'clean_throughput', -1, 'log')] as terms,
    'ratio' as value_unit,
    'async q' || a.queue_depth || ' ' || a.config_id || ' ' || num_txt(a.thr) || ' img/s n=' || a.thr_n
        || ' vs sync ' || s.config_id || ' ' || num_txt(s.thr) || ' n=' || s.thr_n || ': ratio' as evidence
from query_table(configs) as s
join query_table(configs) as a
    on a.k_pipe_q = s.k_pipe_q
where s.pipeline = 'sync'
    and a.pipeline = 'async'
    and s.thr > 0 and a.thr > 0;
