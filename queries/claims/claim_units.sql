-- name: claim_units
-- description: Every unit of every claim, in one shape: the union of the claims' unit macros (claims/claim_c*.sql).
-- inputs: claim_c01, claim_c02, claim_c03, claim_c04, claim_c05, claim_c06, claim_c07, claim_c08, claim_c09, claim_c10, claim_c11, claim_c12, claim_c13, claim_c14, claim_c15, claim_c16, claim_c17
--
-- The shape of a unit (the first select, which returns no row, types it):
--   claim_id    C1 … C17
--   unit        the unit's label (the configurations it compares)
--   test        band, at_least or beyond (claims/claim_tests.sql)
--   edge_lo, edge_hi  the claim's edges on the value's scale
--   scale       log (the value is exp of the contrast: a level or a
--               ratio), raw (a difference) or none (the file computes
--               estimate itself; no interval)
--   shift       a constant added to the contrast (C6: ln of a token ratio)
--   estimate    the value, for scale none only
--   terms       list of contrast_term(config_id, metric, coef, tf)
--   value_unit  the unit of the value (fraction, ratio, GB/s, s, R2)
--   evidence    text naming the configurations and their medians
-- configs and stats name relations of config_compare and config_stats rows
-- (claims.sql passes materialized CTEs: each is computed and bound once
-- per query, not once per claim); from the DuckDB CLI, pass
-- 'config_compare', 'config_stats'.
-- A new claim is one file claims/claim_cNN.sql defining the table macro
-- claim_cNN(configs, stats) that returns rows of this shape, one line below, and a row
-- in claim_list (claims/claim_list.sql).
create or replace macro claim_units(configs, stats) as table
select * from (
    select
        null::varchar as claim_id,
        null::varchar as unit,
        null::varchar as test,
        null::double as edge_lo,
        null::double as edge_hi,
        null::varchar as scale,
        null::double as shift,
        null::double as estimate,
        null::struct(config_id varchar, metric varchar, coef double, tf varchar)[] as terms,
        null::varchar as value_unit,
        null::varchar as evidence
    where false
)
union all by name select * from claim_c01(configs, stats)
union all by name select * from claim_c02(configs, stats)
union all by name select * from claim_c03(configs, stats)
union all by name select * from claim_c04(configs, stats)
union all by name select * from claim_c05(configs, stats)
union all by name select * from claim_c06(configs, stats)
union all by name select * from claim_c07(configs, stats)
union all by name select * from claim_c08(configs, stats)
union all by name select * from claim_c09(configs, stats)
union all by name select * from claim_c10(configs, stats)
union all by name select * from claim_c11(configs, stats)
union all by name select * from claim_c12(configs, stats)
union all by name select * from claim_c13(configs, stats)
union all by name select * from claim_c14(configs, stats)
union all by name select * from claim_c15(configs, stats)
union all by name select * from claim_c16(configs, stats)
union all by name select * from claim_c17(configs, stats);
