-- name: claim_c14
-- description: C14 units: each configuration with H2D copies; its per-copy H2D link rate in GB/s against [c14_min_gbps, c14_max_gbps].
-- inputs: config_compare, config_stats
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C14 "Host-device memory bandwidth is 21-23 GB/s in every
-- configuration": the H2D link rate (sum bytes / sum copy durations,
-- 1e9 B/s) in the band (equivalence). Evidence also in MiB/s (x 1e9 /
-- 2^20), the earlier study's unit.
create or replace macro claim_c14(configs, stats) as table
select
    'C14' as claim_id,
    config_id as unit,
    'band' as test,
    getvariable('c14_min_gbps') as edge_lo,
    getvariable('c14_max_gbps') as edge_hi,
    'log' as scale,
    [contrast_term(config_id, 'h2d_link_gbps', 1, 'log')] as terms,
    'GB/s' as value_unit,
    config_id || ': H2D median ' || printf('%.2f', h2d) || ' GB/s = ' || printf('%.0f', h2d * 1e9 / 1048576)
        || ' MiB/s n=' || h2d_n || ', link rate' as evidence
from query_table(configs)
where h2d > 0;
