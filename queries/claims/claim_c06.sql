-- name: claim_c06
-- description: C6 units: each resolution of a model against its lowest resolution; the ratio of token rates (clean throughput x tokens) against the band 1 +- c6_tolerance.
-- inputs: config_compare, config_stats
--
-- configs, stats: names of relations of config_compare and config_stats
-- rows (claims.sql passes each computed once per query).
-- C6 "Well-designed models keep their performance from 256^2 to 2048^2":
-- a model is the configurations differing only in resolution and batch
-- size; its token rate at each resolution over the lowest resolution's
-- lies in [1 - c6_tolerance, 1 + c6_tolerance]. The ratio is
-- thr(a)/thr(ref) x tokens(a)/tokens(ref), the token counts exact (shift
-- on the log scale).
create or replace macro claim_c06(configs, stats) as table
with
    rates as (
        select
            *,
            first_value(config_id) over w as ref_cfg,
            first_value(resolution) over w as ref_res,
            first_value(tokens) over w as ref_tokens,
            first_value(thr) over w as ref_thr
        from query_table(configs)
        where thr > 0 and tokens > 0 and resolution is not null
        window w as (partition by k_res_bs order by resolution, batch_size, config_id)
    )
select
    'C6' as claim_id,
    config_id || ' against ' || ref_cfg as unit,
    'band' as test,
    1 - getvariable('c6_tolerance') as edge_lo,
    1 + getvariable('c6_tolerance') as edge_hi,
    'log' as scale,
    ln(tokens / ref_tokens) as shift,
    [contrast_term(config_id, 'clean_throughput', 1, 'log'), contrast_term(ref_cfg, 'clean_throughput', -1, 'log')] as terms,
    'ratio' as value_unit,
    config_id || ' (' || resolution || 'px, ' || tokens || ' tokens, ' || num_txt(thr) || ' img/s n=' || thr_n || ') against '
        || ref_cfg || ' (' || ref_res || 'px, ' || num_txt(ref_thr) || ' img/s): token rate ratio' as evidence
from rates
where resolution > ref_res;
