-- name: claim_c13
-- description: C13 units: in each group of local/remote pairs differing only in batch size, the ratio at c13_batch_size over the ratio at every other batch size, > 1.
-- inputs: config_compare, config_stats
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C13 "Single-batch workloads are the most NUMA-sensitive": the
-- local/remote ratio at batch c13_batch_size exceeds that of every other
-- batch size of the group. Each unit is the ratio of the two ratios (a
-- log contrast over four configurations), which must be > 1 (test beyond).
create or replace macro claim_c13(configs, stats) as table
with
    pairs as (
        select
            l.config_id as cfg_local,
            r.config_id as cfg_remote,
            l.k_numa_bs,
            l.batch_size,
            coalesce(l.rq, '-') || ' patch ' || coalesce(cast(l.patch as varchar), '-')
                || ' depth ' || coalesce(cast(l.depth as varchar), '-') || ' hidden ' || coalesce(cast(l.hidden as varchar), '-') as label,
            l.thr as thr_local, l.thr_n as n_local,
            r.thr as thr_remote, r.thr_n as n_remote
        from query_table(configs) as l
        join query_table(configs) as r
            on r.k_numa = l.k_numa
        where l.numa_placement = 'local'
            and r.numa_placement = 'remote'
            and l.thr > 0 and r.thr > 0
    )
select
    'C13' as claim_id,
    t.label || ': batch ' || t.batch_size || ' vs batch ' || o.batch_size as unit,
    'beyond' as test,
    1.0 as edge_lo,
    1.0 as edge_hi,
    'log' as scale,
    [
        contrast_term(t.cfg_local, 'clean_throughput', 1, 'log'), contrast_term(t.cfg_remote, 'clean_throughput', -1, 'log'),
        contrast_term(o.cfg_local, 'clean_throughput', -1, 'log'), contrast_term(o.cfg_remote, 'clean_throughput', 1, 'log')
    ] as terms,
    'ratio of ratios' as value_unit,
    t.label || ': local/remote at batch ' || t.batch_size || ' ' || printf('%.3f', t.thr_local / t.thr_remote)
        || ' over batch ' || o.batch_size || ' ' || printf('%.3f', o.thr_local / o.thr_remote) as evidence
from pairs as t
join pairs as o
    on o.k_numa_bs = t.k_numa_bs and o.batch_size <> t.batch_size
where t.batch_size = getvariable('c13_batch_size');
