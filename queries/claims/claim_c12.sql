-- name: claim_c12
-- description: C12 units: each pair (NUMA local, remote) equal in all else; the throughput ratio local/remote against [c12_min_ratio, c12_max_ratio].
-- inputs: config_compare, config_stats
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C12 "NUMA local vs remote differs by only ~1.01-1.02x": local/remote in
-- the band (equivalence). One-node hosts record remote runs as
-- unavailable: no pair, no data.
create or replace macro claim_c12(configs, stats) as table
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
    'C12' as claim_id,
    'local ' || cfg_local || ' / remote ' || cfg_remote as unit,
    'band' as test,
    getvariable('c12_min_ratio') as edge_lo,
    getvariable('c12_max_ratio') as edge_hi,
    'log' as scale,
    [contrast_term(cfg_local, 'clean_throughput', 1, 'log'), contrast_term(cfg_remote, 'clean_throughput', -1, 'log')] as terms,
    'ratio' as value_unit,
    'local ' || cfg_local || ' ' || num_txt(thr_local) || ' img/s n=' || n_local || ' vs remote ' || cfg_remote || ' '
        || num_txt(thr_remote) || ' n=' || n_remote || ': ratio' as evidence
from pairs;
