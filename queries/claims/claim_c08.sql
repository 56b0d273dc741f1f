-- name: claim_c08
-- description: C8 units: each group of configurations varying patch size and resolution together (>= claims_min_points configurations, >= 2 patch sizes); R-squared of throughput on tokens minus R-squared on pixels, beyond +- c8_min_r2_gap.
-- inputs: config_compare, config_stats
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C8 "Patch count matters more than absolute resolution": throughput is
-- explained better by tokens than by pixels (resolution^2). Without two
-- patch sizes tokens are proportional to pixels and the claim cannot be
-- tested. holds: R2(tokens) - R2(pixels) > c8_min_r2_gap; refuted: below
-- -c8_min_r2_gap (test beyond). No interval (scale none), as C7.
create or replace macro claim_c08(configs, stats) as table
with
    fits as (
        select
            k_patch_res_bs,
            regr_r2(thr, tokens) as r2_tokens,
            regr_r2(thr, cast(resolution as double) * resolution) as r2_pixels,
            count(*) as points,
            list(contrast_term(config_id, 'clean_throughput', 0, 'raw') order by patch, resolution) as terms,
            any_value(coalesce(rq, '-') || ' depth ' || coalesce(cast(depth as varchar), '-')
                || ' hidden ' || coalesce(cast(hidden as varchar), '-')) as label,
            string_agg('p' || patch || '@' || resolution || ' ' || num_txt(thr) || ' n=' || thr_n, ', ' order by patch, resolution) as points_txt
        from query_table(configs)
        where thr is not null and tokens is not null and resolution is not null
        group by k_patch_res_bs
        having count(*) >= getvariable('claims_min_points') and count(distinct patch) >= 2
    )
select
    'C8' as claim_id,
    label as unit,
    'beyond' as test,
    -getvariable('c8_min_r2_gap') as edge_lo,
    getvariable('c8_min_r2_gap') as edge_hi,
    'none' as scale,
    r2_tokens - r2_pixels as estimate,
    terms,
    'R2 difference' as value_unit,
    label || ': R2 on tokens ' || printf('%.4f', r2_tokens) || ', on pixels ' || printf('%.4f', r2_pixels)
        || ' over ' || points || ' configs (' || points_txt || '), difference' as evidence
from fits
where r2_tokens is not null and r2_pixels is not null;
