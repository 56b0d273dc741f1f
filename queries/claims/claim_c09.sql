-- name: claim_c09
-- description: C9 units: each pair (eager, default) equal in all else; the speedup of torch.compile mode default over eager against [c9_min_speedup, c9_max_speedup].
-- inputs: config_compare, config_stats
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C9 "torch.compile gives minimal benefit, often 1-2 % slower than
-- eager": speedup thr(default) / thr(eager) in the band (equivalence).
create or replace macro claim_c09(configs, stats) as table
with
    pairs as (
        select
            e.config_id as cfg_eager,
            m.config_id as cfg_mode,
            m.compile_mode as mode,
            e.thr as thr_eager, e.thr_n as n_eager,
            m.thr as thr_mode, m.thr_n as n_mode
        from query_table(configs) as e
        join query_table(configs) as m
            on m.k_mode = e.k_mode
        where e.compile_mode = 'eager'
            and m.compile_mode <> 'eager'
            and e.thr > 0 and m.thr > 0
    )
select
    'C9' as claim_id,
    mode || ' ' || cfg_mode || ' / eager ' || cfg_eager as unit,
    'band' as test,
    getvariable('c9_min_speedup') as edge_lo,
    getvariable('c9_max_speedup') as edge_hi,
    'log' as scale,
    [contrast_term(cfg_mode, 'clean_throughput', 1, 'log'), contrast_term(cfg_eager, 'clean_throughput', -1, 'log')] as terms,
    'ratio' as value_unit,
    mode || ' ' || cfg_mode || ' ' || num_txt(thr_mode) || ' img/s n=' || n_mode || ' over eager ' || cfg_eager || ' '
        || num_txt(thr_eager) || ' n=' || n_eager || ': speedup' as evidence
from pairs
where mode = 'default';
