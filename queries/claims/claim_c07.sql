-- name: claim_c07
-- description: C7 units: each model (configurations differing only in resolution and batch size) with peak memory at claims_min_points or more token counts; the R-squared of a linear fit of peak memory on tokens against c7_min_r2.
-- inputs: config_compare, config_stats
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C7 "Memory needs scale predictably (linearly) with resolution": R2 of
-- the configurations' median peak memory on tokens per image >= c7_min_r2.
-- An R2 has no interval here (scale none): the unit is decided on the
-- point estimate only once every configuration of the fit has
-- claims_min_runs runs (the terms, with coefficient 0, count them).
create or replace macro claim_c07(configs, stats) as table
select
    'C7' as claim_id,
    any_value(coalesce(rq, '-') || ' patch ' || coalesce(cast(patch as varchar), '-')
        || ' depth ' || coalesce(cast(depth as varchar), '-') || ' hidden ' || coalesce(cast(hidden as varchar), '-')) as unit,
    'at_least' as test,
    getvariable('c7_min_r2') as edge_lo,
    getvariable('c7_min_r2') as edge_hi,
    'none' as scale,
    regr_r2(mem, tokens) as estimate,
    list(contrast_term(config_id, 'peak_mem_bytes', 0, 'raw') order by tokens) as terms,
    'R2' as value_unit,
    any_value(coalesce(rq, '-') || ' patch ' || coalesce(cast(patch as varchar), '-')
        || ' depth ' || coalesce(cast(depth as varchar), '-') || ' hidden ' || coalesce(cast(hidden as varchar), '-'))
        || ': peak MiB by tokens ' || string_agg(tokens || ':' || printf('%.0f', mem / 1048576) || ' n=' || mem_n, ', ' order by tokens)
        || ', R2' as evidence
from query_table(configs)
where mem is not null and tokens is not null
group by k_res_bs
having count(distinct tokens) >= getvariable('claims_min_points');
