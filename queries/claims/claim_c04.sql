-- name: claim_c04
-- description: C4 units: each pair of adjacent patch sizes (all else equal); the utilisation of the smaller patch minus that of the larger against c4_min_gain.
-- inputs: config_compare, config_stats, claim_busy_metric
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C4 "Smaller patches give better GPU utilisation": gpu_busy(p) -
-- gpu_busy(p') > c4_min_gain for adjacent patch sizes p < p' at fixed
-- depth, hidden and settings (test beyond, raw scale).
create or replace macro claim_c04(configs, stats) as table
with
    busy as (
        select c.*, s.median as b, s.n as b_n
        from query_table(configs) as c
        join query_table(stats) as s
            on s.config_id = c.config_id and s.metric = claim_busy_metric()
        where c.patch is not null
    ),
    pairs as (
        select
            lag(config_id) over w as cfg_small,
            config_id as cfg_large,
            lag(patch) over w as p_small,
            patch as p_large,
            lag(b) over w as b_small,
            b as b_large
        from busy
        window w as (partition by k_patch order by patch)
    )
select
    'C4' as claim_id,
    'patch ' || p_small || ' ' || cfg_small || ' vs patch ' || p_large || ' ' || cfg_large as unit,
    'beyond' as test,
    getvariable('c4_min_gain') as edge_lo,
    getvariable('c4_min_gain') as edge_hi,
    'raw' as scale,
    [contrast_term(cfg_small, claim_busy_metric(), 1, 'raw'), contrast_term(cfg_large, claim_busy_metric(), -1, 'raw')] as terms,
    'fraction (difference)' as value_unit,
    'patch ' || p_small || ' ' || cfg_small || ' busy ' || num_txt(b_small)
        || ' vs patch ' || p_large || ' ' || cfg_large || ' ' || num_txt(b_large) || ': gain' as evidence
from pairs
where p_small is not null;
