-- views/05_stats.sql: the interval methods of vitlab, defined once. Every
-- configuration interval (metrics/config_stats.sql) and every claim
-- (claims/claim_tests.sql) calls these macros; queries/stats_test.go checks
-- the quantiles against Student's t and the coverage of the intervals by
-- simulation. The unit of replication is the run (its own process and CUDA
-- context): the values fed to these macros are one value per run, never
-- the clean windows inside a run.

-- The normal quantile Φ⁻¹(p) by Acklam's rational approximation
-- (relative error below 1.2e-9): norm_tail_q(q) for p < 0.02425 with
-- q = sqrt(−2·ln p) (negative: the lower tail), norm_central_q(q, r) for
-- 0.02425 <= p <= 0.97575 with q = p − 0.5, r = q². Their arguments
-- should be columns: a macro repeats its argument's expression wherever
-- the parameter appears.
create or replace macro norm_tail_q(q) as
    (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838e+00) * q
        - 2.549732539343734e+00) * q + 4.374664141464968e+00) * q + 2.938163982698783e+00)
    / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e+00) * q
        + 3.754408661907416e+00) * q + 1);
create or replace macro norm_central_q(q, r) as
    (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r - 2.759285104469687e+02) * r
        + 1.383577518672690e+02) * r - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q
    / (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r - 1.556989798598866e+02) * r
        + 6.680131188771972e+01) * r - 1.328068155288572e+01) * r + 1);

-- t_quantiles(rel): Student's t quantiles for every row of the relation
-- named rel (a table, view or CTE name, as text), which has columns p
-- (0 < p < 1) and df (real degrees of freedom, as Welch–Satterthwaite
-- gives them; df >= 1): its rows with one column more, t, the p-quantile
-- of t with df degrees of freedom. t is null for df < 1 or null (too few
-- runs for an interval) and for p outside (0, 1).
-- Method: Hill's algorithm 396 (Comm. ACM 13(10), 1970), as R's qt uses
-- it before its refinement step: exact for df = 1 and 2, within 0.2 %
-- from df 2 up; between 1 and 2 (Welch with two runs on a side) up to 3 %
-- too large, i.e. a wider, conservative interval (queries/stats_test.go
-- checks it against Student's distribution integrated numerically). Each intermediate is one column,
-- computed once per row.
create or replace macro t_quantiles(rel) as table
with
    args as (
        select
            *,
            2 * least(p, 1 - p) as t_tp,          -- two-tailed probability
            df::double as t_n,
            greatest(least(p, 1 - p), 1e-300) as t_pp  -- the lower tail, for the normal quantile
        from query_table(rel)
    ),
    hill_a as (
        select *, case when t_n >= 1 then 1 / (t_n - 0.5) end as t_a, sqrt(-2 * ln(t_pp)) as t_qt, t_pp - 0.5 as t_qc
        from args
    ),
    hill_b as (
        select
            *,
            48 / (t_a * t_a) as t_b,
            case when t_pp < 0.02425 then norm_tail_q(t_qt) else norm_central_q(t_qc, t_qc * t_qc) end as t_x
        from hill_a
    ),
    hill_c as (
        select *, ((20700 * t_a / t_b - 98) * t_a - 16) * t_a + 96.36 as t_c
        from hill_b
    ),
    hill_d as (
        select *, ((94.5 / (t_b + t_c) - 3) / t_b + 1) * sqrt(t_a * pi() / 2) * t_n as t_d
        from hill_c
    ),
    hill_y as (
        select
            *,
            pow(t_d * t_tp, 2 / t_n) as t_y0,
            (((0.05 * t_d * t_x - 5) * t_x - 7) * t_x - 2) * t_x + t_b + t_c
                + case when t_n < 5 then 0.3 * (t_n - 4.5) * (t_x + 0.6) else 0 end as t_c2
        from hill_d
    ),
    hill_large as (
        select *, ((((((0.4 * t_x * t_x + 6.3) * t_x * t_x + 36) * t_x * t_x + 94.5) / t_c2 - t_x * t_x - 3) / t_b + 1) * t_x) as t_yl
        from hill_y
    ),
    final as (
        select
            * exclude (t_tp, t_n, t_pp, t_a, t_qt, t_qc, t_b, t_x, t_c, t_d, t_y0, t_c2, t_yl),
            case
                when t_n is null or t_n < 1 or p is null or p <= 0 or p >= 1 then null
                when p = 0.5 then 0.0
                when t_n > 1e7 then -sign(p - 0.5) * t_x
                when t_n = 1 then sign(p - 0.5) * cot(t_tp * pi() / 2)
                when t_n = 2 then sign(p - 0.5) * sqrt(2 / (t_tp * (2 - t_tp)) - 2)
                when t_y0 > 0.05 + t_a then sign(p - 0.5) * sqrt(t_n * (exp(t_a * t_yl * t_yl) - 1))
                else sign(p - 0.5) * sqrt(t_n * (((1 / (((t_n + 6) / (t_n * t_y0) - 0.089 * t_d - 0.822) * (t_n + 2) * 3)
                    + 0.5 / (t_n + 4)) * t_y0 - 1) * (t_n + 1) / (t_n + 2) + 1 / t_y0))
            end as t
        from hill_large
    )
select * from final;

-- welch_df(w_sum, w2_sum): Welch–Satterthwaite degrees of freedom of a
-- contrast Σ cᵢ·meanᵢ over independent samples, given w_sum = Σ wᵢ and
-- w2_sum = Σ wᵢ² / (nᵢ − 1), where wᵢ = cᵢ²·sᵢ² / nᵢ. With every sᵢ = 0
-- (identical runs) the spread gives no df: the smallest nᵢ − 1 stands in,
-- passed as fallback.
create or replace macro welch_df(w_sum, w2_sum, fallback) as
    case when w2_sum > 0 then w_sum * w_sum / w2_sum else fallback end;

-- t_interval(est, se, t): the interval est ± t·se as a struct {lo, hi},
-- for t = the (1 + level) / 2 quantile of t (t_quantiles) at a two-sided level
-- (compute t once per row in its own column: each t_q call expands to a
-- large expression); both null when se or t is null (fewer than two runs
-- on a side). Callers on a log scale take exp() of both ends.
create or replace macro t_interval(est, se, t) as
    struct_pack(lo := est - t * se, hi := est + t * se);

-- contrast_term(config_id, metric, coef, tf): one term of a contrast
-- Σ coef·tf(run values of metric in config_id), tf being log, raw or inv
-- (1/x); claims/claim_tests.sql estimates contrasts of such terms.
create or replace macro contrast_term(config_id, metric, coef, tf) as
    struct_pack(config_id := config_id::varchar, metric := metric::varchar, coef := coef::double, tf := tf::varchar);

-- num_txt(x): a number as text with 4 significant digits ('n/a' for null,
-- 'never' for infinity), for reasons and evidence.
create or replace macro num_txt(x) as
    case when x is null then 'n/a' when isinf(x) then 'never' else printf('%.4g', x + 0.0) end;

-- ratio_ci(pairs, stats, level): the ratio of two configurations' run
-- values with its interval over both sides' runs, for every row of the
-- relation named pairs (columns a, b: config ids, metric: a config_stats
-- metric; other columns pass through), stats naming config_stats rows.
-- Adds ratio = exp(mean ln a − mean ln b) (the ratio of geometric means),
-- ratio_lo, ratio_hi: Welch's t on log run values at the two-sided level
-- (e.g. 0.95), Welch–Satterthwaite df — the two-sample case of the claims'
-- contrasts (claims/claim_tests.sql); null bounds when a side has fewer
-- than 2 runs or non-positive values; ratio_n_min, the fewer runs of the
-- two sides.
create or replace macro ratio_ci(pairs, stats, level) as table
with
    sides as (
        select
            p.*,
            sa.n as ratio_n_a, sa.log_mean as ratio_m_a, sa.log_sd as ratio_s_a,
            sb.n as ratio_n_b, sb.log_mean as ratio_m_b, sb.log_sd as ratio_s_b
        from query_table(pairs) as p
        left join query_table(stats) as sa
            on sa.config_id = p.a and sa.metric = p.metric
        left join query_table(stats) as sb
            on sb.config_id = p.b and sb.metric = p.metric
    ),
    welch as (
        select
            *,
            case when ratio_n_a >= 2 and ratio_n_b >= 2 then
                ratio_s_a * ratio_s_a / ratio_n_a + ratio_s_b * ratio_s_b / ratio_n_b end as ratio_w,
            case when ratio_n_a >= 2 and ratio_n_b >= 2 then
                pow(ratio_s_a * ratio_s_a / ratio_n_a, 2) / (ratio_n_a - 1)
                + pow(ratio_s_b * ratio_s_b / ratio_n_b, 2) / (ratio_n_b - 1) end as ratio_w2
        from sides
    ),
    ratio_args as (
        select
            *,
            1 - (1 - level) / 2 as p,
            welch_df(ratio_w, ratio_w2, least(ratio_n_a, ratio_n_b) - 1) as df
        from welch
    ),
    final as (
        select
            * exclude (p, df, t, ratio_n_a, ratio_m_a, ratio_s_a, ratio_n_b, ratio_m_b, ratio_s_b, ratio_w, ratio_w2),
            exp(ratio_m_a - ratio_m_b) as ratio,
            exp(t_interval(ratio_m_a - ratio_m_b, sqrt(ratio_w), t).lo) as ratio_lo,
            exp(t_interval(ratio_m_a - ratio_m_b, sqrt(ratio_w), t).hi) as ratio_hi,
            least(ratio_n_a, ratio_n_b) as ratio_n_min
        from t_quantiles('ratio_args')
    )
select * from final;

-- f_sf(f, d1, d2): the upper tail P(F > f) of Fisher's F distribution with
-- d1, d2 whole degrees of freedom (>= 1): the p-value of an F test such as
-- a one-way ANOVA's MS_between / MS_within (throughput_variance.sql). No
-- numerical integration: for whole degrees of freedom the tail is a finite
-- sum (Abramowitz & Stegun, Handbook, 26.6.4, 26.6.5, 26.6.8), with
-- x = d2 / (d2 + d1·f) and, for the binomial-like terms, their
-- coefficients through lgamma:
--   d1 even:  x^(d2/2) · Σ_{k < d1/2} Γ(d2/2 + k) / (Γ(d2/2)·k!) · (1 − x)^k
--   d2 even:  1 − (1 − x)^(d1/2) · Σ_{k < d2/2} Γ(d1/2 + k) / (Γ(d1/2)·k!) · x^k
--   both odd: 1 − A + β with θ = atan(√(d1·f / d2)) (cos²θ = x), A the
--             Student t term (2/π)(θ + sinθ·cosθ·Σ_{k <= (d2−3)/2} c_k·x^k),
--             c_k = 2·4…2k / (3·5…(2k+1)), and β = (2/√π)·Γ((d2+1)/2) /
--             Γ(d2/2)·sinθ·x^(d2/2)·Σ_{k <= (d1−3)/2} d_k·(1 − x)^k,
--             d_k = (d2+1)(d2+3)…(d2+2k−1) / (3·5…(2k+1)).
-- Exact up to rounding (absolute error near 1e-15; a p-value far below
-- 1e-12 loses relative precision in the second and third forms).
-- queries/stats_test.go checks it against published 5 % critical values
-- and against an independent incomplete-beta computation. 1 for f <= 0,
-- 0 for f = +inf, null for a null argument or degrees of freedom that are
-- not whole numbers >= 1. Its arguments should be columns (a macro repeats
-- its argument's expression wherever the parameter appears).
create or replace macro f_sf(f, d1, d2) as
    case
        when f is null or d1 is null or d2 is null or isnan(f) then null
        when d1 < 1 or d2 < 1 or d1 <> floor(d1) or d2 <> floor(d2) then null
        when f <= 0 then 1.0
        when isinf(f) then 0.0
        when d1::bigint % 2 = 0 then
            coalesce(list_sum(list_transform(range(0, (d1::bigint) // 2), lambda k:
                exp(lgamma(d2 / 2 + k) - lgamma(d2 / 2) - lgamma(k + 1)
                    + d2 / 2 * ln(d2 / (d2 + d1 * f)) + k * ln(d1 * f / (d2 + d1 * f))))), 0)
        when d2::bigint % 2 = 0 then
            1 - coalesce(list_sum(list_transform(range(0, (d2::bigint) // 2), lambda k:
                exp(lgamma(d1 / 2 + k) - lgamma(d1 / 2) - lgamma(k + 1)
                    + d1 / 2 * ln(d1 * f / (d2 + d1 * f)) + k * ln(d2 / (d2 + d1 * f))))), 0)
        else
            1
            - 2 / pi() * (atan(sqrt(d1 * f / d2))
                + sin(atan(sqrt(d1 * f / d2))) * cos(atan(sqrt(d1 * f / d2)))
                  * coalesce(list_sum(list_transform(range(0, (d2::bigint - 1) // 2), lambda k:
                      exp(k * ln(4) + 2 * lgamma(k + 1) - lgamma(2 * k + 2) + k * ln(d2 / (d2 + d1 * f))))), 0))
            + 2 / sqrt(pi()) * exp(lgamma((d2 + 1) / 2) - lgamma(d2 / 2))
                * sin(atan(sqrt(d1 * f / d2))) * pow(d2 / (d2 + d1 * f), d2 / 2)
                * coalesce(list_sum(list_transform(range(0, (d1::bigint - 1) // 2), lambda k:
                    exp(lgamma((d2 + 1) / 2 + k) - lgamma((d2 + 1) / 2) - lgamma(k + 1.5) + lgamma(1.5)
                        + k * ln(d1 * f / (d2 + d1 * f))))), 0)
    end;
