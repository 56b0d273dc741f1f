-- name: claims
-- description: One row per published claim C1-C17 (../shared/claims.md): its verdict (holds, refuted, inconclusive, no data) computed from the warehouse, the deciding value with its 95 % interval, the threshold, and the configurations that decided it.
-- inputs: config_compare
-- rq: -
-- param: claim = null  -- only this claim id, e.g. C3 (every claim when null)
-- param: claims_min_repeats = 3  -- repeats a configuration needs for its 95 % interval to count; fewer make it inconclusive, never decisive
-- param: claims_min_points = 3  -- points (token counts) a linear fit needs before its R-squared is a test (C7, C8)
-- param: c1_min_hidden = 768  -- C1: the hidden sizes the claim covers (hidden >= this)
-- param: c1_min_busy = 0.97  -- C1: gpu_busy every such configuration must reach
-- param: c2_hidden = 384  -- C2: the hidden size the claim covers
-- param: c2_min_busy = 0.85  -- C2: lower end of the gpu_busy band
-- param: c2_max_busy = 0.88  -- C2: upper end of the gpu_busy band
-- param: c3_hidden_below = 384  -- C3: hidden size just below the claimed threshold
-- param: c3_hidden_above = 768  -- C3: hidden size just above the claimed threshold
-- param: c4_min_gain = 0.0  -- C4: gpu_busy gain (fraction) the smaller patch must show over the next larger one
-- param: c5_max_drop = 0.0  -- C5: gpu_busy drop (fraction) from one depth to the next deeper one still counted as no decrease
-- param: c6_tolerance = 0.1  -- C6: allowed relative change of the token rate against the model's lowest resolution
-- param: c7_min_r2 = 0.95  -- C7: R-squared of peak memory against tokens per image
-- param: c8_min_r2_gap = 0.05  -- C8: margin by which one R-squared must beat the other to tell tokens from pixels
-- param: c9_min_speedup = 0.97  -- C9: lower end of the speedup band of mode default over eager
-- param: c9_max_speedup = 1.0  -- C9: upper end of that band
-- param: c10_min_speedup = 1.3  -- C10: lower end of the speedup band of reduce-overhead and max-autotune over eager
-- param: c10_max_speedup = 1.4  -- C10: upper end of that band
-- param: c11_images bigint = null  -- C11: images the compile must pay back within (null: the compiled run's own images in its timed window)
-- param: c12_min_ratio = 1.0  -- C12: lower end of the local/remote throughput ratio band
-- param: c12_max_ratio = 1.03  -- C12: upper end of that band
-- param: c13_batch_size = 1  -- C13: the batch size claimed to be the most NUMA-sensitive
-- param: c14_min_gbps = 21.0  -- C14: lower end of the H2D link rate band, GB/s (1e9 B/s)
-- param: c14_max_gbps = 23.0  -- C14: upper end of that band, GB/s
-- param: c15_min_ratio = 0.98  -- C15: lower end of the async/sync throughput ratio band
-- param: c15_max_ratio = 1.02  -- C15: upper end of that band
-- param: c16_queue_depth = 2  -- C16: the queue depth claimed to beat every deeper queue
-- param: c16_min_ratio = 1.0  -- C16: throughput ratio (that depth / a deeper one) it must reach
-- param: c17_min_ratio = 1.0  -- C17: CPU/GPU preprocessing throughput ratio must exceed this (open end)
-- param: c17_max_ratio = 1.05  -- C17: and be at most this
--
-- What is used. A run counts when run_config.status = 'ok' and
-- runs_flagged (queries/checks/settings_vs_trace.sql) does not name it. A
-- configuration counts when it has such a run and none of its runs is
-- flagged: config_stats aggregates every repeat of a configuration, so a
-- flagged run cannot be taken out of its numbers here, and the whole
-- configuration is left out instead (metrics/config_compare.sql, which
-- also holds the comparison keys). Numbers per configuration come from
-- config_stats: the median and 95 % interval of the repeats (clean windows
-- for clean_throughput, runs for trace metrics and compile_s); an interval
-- with n < claims_min_repeats is treated as missing.
--
-- Units. Each claim is decided over units: a configuration (C1, C2, C14), a
-- pair of configurations that differ in one setting only (C4-C6, C9-C12,
-- C15-C17), or a group of them (C3, C7, C8, C13). "Differ in one setting
-- only" means equal in every other one of rq, gpu_name, dtype,
-- patch_embed, patch, depth, hidden, resolution, batch_size, compile_mode,
-- pipeline, queue_depth, preprocess and numa_placement (rq included:
-- comparisons stay inside one experiment design; the CPU-side settings
-- decoder and cpu_workers are left out, as they follow preprocess). Each unit gets a verdict; the claim's verdict is
--   no data       no unit (the warehouse lacks the configurations),
--   refuted       at least one unit refuted,
--   holds         every unit holds,
--   inconclusive  otherwise (an interval straddles the threshold, intervals
--                 of a comparison overlap, or a unit lacks its interval).
-- value, ci_low, ci_high are those of the deciding unit: the first refuted
-- unit, else the first inconclusive one, else the first that holds, "first"
-- being the one farthest on the claim's wrong side (the worst config).
-- configs and runs count every configuration of every unit and their
-- usable runs; evidence names the deciding unit with its numbers and
-- counts the units per verdict.
--
-- Intervals of derived numbers are interval arithmetic on the
-- configurations' 95 % intervals (a ratio a/b spans [a_lo/b_hi, a_hi/b_lo],
-- a difference a-b spans [a_lo-b_hi, a_hi-b_lo]): conservative, so a
-- verdict is decisive only when the intervals do not overlap (DESIGN.md,
-- Repeats).
--
-- Decision rule per claim (v = the unit's value, [lo, hi] its interval):
-- C1  unit: each config with hidden >= c1_min_hidden; v = gpu_busy.
--     holds lo >= c1_min_busy; refuted hi < c1_min_busy. Evidence also
--     gives the seed-compatible utilisation (sum kernel / kernel span).
-- C2  unit: each config with hidden = c2_hidden; v = gpu_busy. holds
--     [lo, hi] inside [c2_min_busy, c2_max_busy]; refuted [lo, hi]
--     entirely outside.
-- C3  unit: each group of configs differing only in hidden that has the
--     step c3_hidden_below -> c3_hidden_above between adjacent hidden sizes
--     and at least one other step; step = gpu_busy(next) - gpu_busy(prev);
--     v = the threshold step. holds its lo > every other step's hi;
--     refuted some other step's lo > its hi.
-- C4  unit: adjacent patch sizes p < p' (all else equal); v = gpu_busy(p) -
--     gpu_busy(p'). holds lo > c4_min_gain; refuted hi < c4_min_gain.
-- C5  unit: adjacent depths d < d'; v = gpu_busy(d') - gpu_busy(d). holds
--     lo >= -c5_max_drop; refuted hi < -c5_max_drop.
-- C6  unit: each resolution of a model (configs differing only in
--     resolution and batch size) against the model's lowest resolution;
--     v = token rate (clean_throughput x tokens) / the lowest resolution's.
--     holds [lo, hi] inside [1 - c6_tolerance, 1 + c6_tolerance]; refuted
--     entirely outside.
-- C7  unit: each model (as C6) with >= claims_min_points token counts;
--     v = R-squared (regr_r2) of peak_mem_bytes medians on tokens.
--     No interval (ci null); a unit is inconclusive when a point lacks its
--     interval (n < claims_min_repeats), else holds v >= c7_min_r2, refuted
--     below.
-- C8  unit: configs differing only in patch, resolution and batch size,
--     >= claims_min_points of them over >= 2 patch sizes (else tokens are
--     proportional to pixels and the claim cannot be tested); v = R-squared
--     of clean_throughput on tokens minus R-squared on pixels
--     (resolution^2). No interval; inconclusive when a point lacks its
--     interval; holds v > c8_min_r2_gap; refuted v < -c8_min_r2_gap; else
--     inconclusive.
-- C9  unit: pair (eager, default); v = speedup thr(default)/thr(eager).
--     holds inside [c9_min_speedup, c9_max_speedup]; refuted entirely
--     outside.
-- C10 unit: pairs (eager, reduce-overhead) and (eager, max-autotune);
--     band [c10_min_speedup, c10_max_speedup] as C9.
-- C11 unit: every compiled mode against eager; saving = 1/thr(eager) -
--     1/thr(mode) s per image; v = break-even images = compile_s / saving
--     (null, i.e. never, when the mode saves nothing), compared with the
--     images to pay back (c11_images, else the compiled config's median
--     images in the timed window, run_metrics_v.images). holds lo > images
--     (also when the mode is surely not faster); refuted hi < images.
-- C12 unit: pair (numa_placement local, remote); v = thr(local)/thr(remote).
--     holds inside [c12_min_ratio, c12_max_ratio]; refuted entirely outside.
--     One-node hosts record remote runs as unavailable: no pair, no data.
-- C13 unit: each group of C12 pairs differing only in batch size that has
--     the pair at c13_batch_size and another; v = its ratio. holds its lo >
--     every other batch size's hi; refuted another's lo > its hi.
-- C14 unit: each config with an H2D link rate (sum bytes / sum copy
--     durations, GB/s); holds inside [c14_min_gbps, c14_max_gbps]; refuted
--     entirely outside. Evidence also in MiB/s (x 1e9 / 2^20), the earlier
--     study's unit.
-- C15 unit: pair (sync, async at each queue depth), configs differing only
--     in pipeline and queue depth; v = thr(async)/thr(sync). holds inside
--     [c15_min_ratio, c15_max_ratio]; refuted entirely outside.
-- C16 unit: async pair (queue c16_queue_depth, each deeper queue);
--     v = thr(c16_queue_depth)/thr(deeper). holds lo >= c16_min_ratio;
--     refuted hi < c16_min_ratio.
-- C17 unit: pair (preprocess cpu, gpu); v = thr(cpu)/thr(gpu). holds
--     lo > c17_min_ratio and hi <= c17_max_ratio; refuted hi <=
--     c17_min_ratio or lo > c17_max_ratio.
--
-- Columns: claim_id, rq, claim (the published wording, short), verdict,
-- value, ci_low, ci_high (rounded to 4 decimals; ci null where the claim
-- has no interval or the deciding unit lacks one), threshold (the testable
-- form with the params' values), configs, runs, evidence.

with

-- each comparable configuration with its keys (metrics/config_compare.sql);
-- an interval counts only with claims_min_repeats repeats
masked as (
    select * replace (
        case when thr_n >= getvariable('claims_min_repeats') then thr_lo end as thr_lo,
        case when thr_n >= getvariable('claims_min_repeats') then thr_hi end as thr_hi,
        case when busy_n >= getvariable('claims_min_repeats') then busy_lo end as busy_lo,
        case when busy_n >= getvariable('claims_min_repeats') then busy_hi end as busy_hi,
        case when mem_n >= getvariable('claims_min_repeats') then mem_lo end as mem_lo,
        case when mem_n >= getvariable('claims_min_repeats') then mem_hi end as mem_hi,
        case when h2d_n >= getvariable('claims_min_repeats') then h2d_lo end as h2d_lo,
        case when h2d_n >= getvariable('claims_min_repeats') then h2d_hi end as h2d_hi,
        case when comp_n >= getvariable('claims_min_repeats') then comp_lo end as comp_lo,
        case when comp_n >= getvariable('claims_min_repeats') then comp_hi end as comp_hi
    )
    from config_compare
),

keyed as materialized (
    select
        *,
        -- text of a config's numbers for the evidence
        printf('%.3f', busy) || coalesce(' [' || printf('%.3f', busy_lo) || ', ' || printf('%.3f', busy_hi) || ']', '') || ' n=' || busy_n as busy_txt,
        printf('%.1f', thr) || coalesce(' [' || printf('%.1f', thr_lo) || ', ' || printf('%.1f', thr_hi) || ']', '') || ' n=' || thr_n as thr_txt
    from masked
),

-- C1: gpu_busy >= c1_min_busy for every hidden >= c1_min_hidden config
c1 as (
    select
        'C1' as claim_id,
        case
            when busy_lo >= getvariable('c1_min_busy') then 'holds'
            when busy_hi < getvariable('c1_min_busy') then 'refuted'
            else 'inconclusive'
        end as verdict,
        busy as value, busy_lo as lo, busy_hi as hi,
        getvariable('c1_min_busy') - busy as badness,
        [config_id] as config_ids,
        config_id || ' (hidden ' || hidden || '): gpu_busy ' || busy_txt
            || ', seed utilisation ' || coalesce(printf('%.3f', util), 'n/a') as evidence
    from keyed
    where hidden >= getvariable('c1_min_hidden') and busy is not null
),

-- C2: gpu_busy of every hidden = c2_hidden config within the band
c2 as (
    select
        'C2' as claim_id,
        case
            when busy_lo >= getvariable('c2_min_busy') and busy_hi <= getvariable('c2_max_busy') then 'holds'
            when busy_hi < getvariable('c2_min_busy') or busy_lo > getvariable('c2_max_busy') then 'refuted'
            else 'inconclusive'
        end as verdict,
        busy as value, busy_lo as lo, busy_hi as hi,
        greatest(getvariable('c2_min_busy') - busy, busy - getvariable('c2_max_busy')) as badness,
        [config_id] as config_ids,
        config_id || ' (hidden ' || hidden || '): gpu_busy ' || busy_txt as evidence
    from keyed
    where hidden = getvariable('c2_hidden') and busy is not null
),

-- C3: steps in gpu_busy between adjacent hidden sizes of a group
c3_steps as (
    select
        k_hidden as grp,
        coalesce(rq, '-') || ' patch ' || coalesce(cast(patch as varchar), '-')
            || ' depth ' || coalesce(cast(depth as varchar), '-') as label,
        lag(config_id) over w as cfg_from,
        config_id as cfg_to,
        lag(hidden) over w as h_from,
        hidden as h_to,
        busy - lag(busy) over w as step,
        busy_lo - lag(busy_hi) over w as step_lo,
        busy_hi - lag(busy_lo) over w as step_hi
    from keyed
    where busy is not null and hidden is not null
    window w as (partition by k_hidden order by hidden)
),

c3_all as (
    select
        *,
        h_from = getvariable('c3_hidden_below') and h_to = getvariable('c3_hidden_above') as is_target
    from c3_steps
    where h_from is not null
),

c3 as (
    select
        'C3' as claim_id,
        case
            when bool_or(not o.is_target and o.step_lo > t.step_hi) then 'refuted'
            when bool_and(o.is_target or o.step_hi < t.step_lo) then 'holds'
            else 'inconclusive'
        end as verdict,
        any_value(t.step) as value, any_value(t.step_lo) as lo, any_value(t.step_hi) as hi,
        max(o.step) filter (where not o.is_target) - any_value(t.step) as badness,
        list_distinct(flatten(list([o.cfg_from, o.cfg_to]))) as config_ids,
        any_value(t.label) || ': ' || string_agg(
            o.h_from || '->' || o.h_to || ' ' || printf('%+.3f', o.step)
                || coalesce(' [' || printf('%+.3f', o.step_lo) || ', ' || printf('%+.3f', o.step_hi) || ']', ''),
            '; ' order by o.h_from
        ) as evidence
    from c3_all as t
    join c3_all as o
        on o.grp = t.grp
    where t.is_target
    group by t.grp
    having count(*) filter (where not o.is_target) > 0
),

-- C4: adjacent patch sizes, smaller patch against the larger one
c4_pairs as (
    select
        lag(config_id) over w as cfg_small,
        config_id as cfg_large,
        lag(patch) over w as p_small,
        patch as p_large,
        lag(busy_txt) over w as txt_small,
        busy_txt as txt_large,
        lag(busy) over w - busy as gain,
        lag(busy_lo) over w - busy_hi as gain_lo,
        lag(busy_hi) over w - busy_lo as gain_hi
    from keyed
    where busy is not null and patch is not null
    window w as (partition by k_patch order by patch)
),

c4 as (
    select
        'C4' as claim_id,
        case
            when gain_lo > getvariable('c4_min_gain') then 'holds'
            when gain_hi < getvariable('c4_min_gain') then 'refuted'
            else 'inconclusive'
        end as verdict,
        gain as value, gain_lo as lo, gain_hi as hi,
        getvariable('c4_min_gain') - gain as badness,
        [cfg_small, cfg_large] as config_ids,
        'patch ' || p_small || ' ' || cfg_small || ' gpu_busy ' || txt_small
            || ' vs patch ' || p_large || ' ' || cfg_large || ' ' || txt_large
            || ': gain ' || printf('%+.3f', gain) as evidence
    from c4_pairs
    where p_small is not null
),

-- C5: adjacent depths, deeper against shallower
c5_pairs as (
    select
        lag(config_id) over w as cfg_shallow,
        config_id as cfg_deep,
        lag(depth) over w as d_shallow,
        depth as d_deep,
        lag(busy_txt) over w as txt_shallow,
        busy_txt as txt_deep,
        busy - lag(busy) over w as change,
        busy_lo - lag(busy_hi) over w as change_lo,
        busy_hi - lag(busy_lo) over w as change_hi
    from keyed
    where busy is not null and depth is not null
    window w as (partition by k_depth order by depth)
),

c5 as (
    select
        'C5' as claim_id,
        case
            when change_lo >= -getvariable('c5_max_drop') then 'holds'
            when change_hi < -getvariable('c5_max_drop') then 'refuted'
            else 'inconclusive'
        end as verdict,
        change as value, change_lo as lo, change_hi as hi,
        -getvariable('c5_max_drop') - change as badness,
        [cfg_shallow, cfg_deep] as config_ids,
        'depth ' || d_shallow || ' ' || cfg_shallow || ' gpu_busy ' || txt_shallow
            || ' -> depth ' || d_deep || ' ' || cfg_deep || ' ' || txt_deep
            || ': change ' || printf('%+.3f', change) as evidence
    from c5_pairs
    where d_shallow is not null
),

-- C6: token rate of each resolution against the model's lowest resolution
c6_rates as (
    select
        *,
        first_value(config_id) over w as ref_cfg,
        first_value(resolution) over w as ref_res,
        first_value(thr * tokens) over w as ref_rate,
        first_value(thr_lo * tokens) over w as ref_rate_lo,
        first_value(thr_hi * tokens) over w as ref_rate_hi
    from keyed
    where thr is not null and tokens is not null and resolution is not null
    window w as (partition by k_res_bs order by resolution, batch_size, config_id)
),

c6_pairs as (
    select
        *,
        thr * tokens / nullif(ref_rate, 0) as ratio,
        thr_lo * tokens / nullif(ref_rate_hi, 0) as ratio_lo,
        thr_hi * tokens / nullif(ref_rate_lo, 0) as ratio_hi
    from c6_rates
    where resolution > ref_res
),

c6 as (
    select
        'C6' as claim_id,
        case
            when ratio_lo >= 1 - getvariable('c6_tolerance') and ratio_hi <= 1 + getvariable('c6_tolerance') then 'holds'
            when ratio_hi < 1 - getvariable('c6_tolerance') or ratio_lo > 1 + getvariable('c6_tolerance') then 'refuted'
            else 'inconclusive'
        end as verdict,
        ratio as value, ratio_lo as lo, ratio_hi as hi,
        abs(ratio - 1) - getvariable('c6_tolerance') as badness,
        [ref_cfg, config_id] as config_ids,
        config_id || ' (' || resolution || 'px, ' || tokens || ' tokens, ' || thr_txt || ' img/s) against '
            || ref_cfg || ' (' || ref_res || 'px): token rate x' || printf('%.3f', ratio) as evidence
    from c6_pairs
),

-- C7: linear fit of peak memory on tokens, per model
c7 as (
    select
        'C7' as claim_id,
        case
            when not bool_and(mem_lo is not null) then 'inconclusive'
            when regr_r2(mem, tokens) >= getvariable('c7_min_r2') then 'holds'
            else 'refuted'
        end as verdict,
        regr_r2(mem, tokens) as value,
        cast(null as double) as lo, cast(null as double) as hi,
        getvariable('c7_min_r2') - regr_r2(mem, tokens) as badness,
        list(config_id order by tokens) as config_ids,
        any_value(coalesce(rq, '-') || ' patch ' || coalesce(cast(patch as varchar), '-')
            || ' depth ' || coalesce(cast(depth as varchar), '-') || ' hidden ' || coalesce(cast(hidden as varchar), '-'))
            || ': R2 ' || printf('%.4f', regr_r2(mem, tokens)) || ' over ' || count(*) || ' configs; peak MiB by tokens '
            || string_agg(tokens || ':' || printf('%.0f', mem / 1048576) || ' n=' || mem_n, ', ' order by tokens) as evidence
    from keyed
    where mem is not null and tokens is not null
    group by k_res_bs
    having count(distinct tokens) >= getvariable('claims_min_points')
),

-- C8: throughput on tokens against throughput on pixels
c8_fits as (
    select
        k_patch_res_bs,
        regr_r2(thr, tokens) as r2_tokens,
        regr_r2(thr, cast(resolution as double) * resolution) as r2_pixels,
        bool_and(thr_lo is not null) as all_ci,
        count(*) as points,
        list(config_id order by patch, resolution) as config_ids,
        any_value(coalesce(rq, '-') || ' depth ' || coalesce(cast(depth as varchar), '-')
            || ' hidden ' || coalesce(cast(hidden as varchar), '-')) as label,
        string_agg('p' || patch || '@' || resolution || ' ' || thr_txt, ', ' order by patch, resolution) as points_txt
    from keyed
    where thr is not null and tokens is not null and resolution is not null
    group by k_patch_res_bs
    having count(*) >= getvariable('claims_min_points') and count(distinct patch) >= 2
),

c8 as (
    select
        'C8' as claim_id,
        case
            when not all_ci then 'inconclusive'
            when r2_tokens - r2_pixels > getvariable('c8_min_r2_gap') then 'holds'
            when r2_tokens - r2_pixels < -getvariable('c8_min_r2_gap') then 'refuted'
            else 'inconclusive'
        end as verdict,
        r2_tokens - r2_pixels as value,
        cast(null as double) as lo, cast(null as double) as hi,
        r2_pixels - r2_tokens as badness,
        config_ids,
        label || ': R2 on tokens ' || printf('%.4f', r2_tokens) || ', on pixels ' || printf('%.4f', r2_pixels)
            || ' over ' || points || ' configs (' || points_txt || ')' as evidence
    from c8_fits
    where r2_tokens is not null and r2_pixels is not null
),

-- C9-C11: each compiled mode against eager
mode_pairs as (
    select
        e.config_id as cfg_eager,
        m.config_id as cfg_mode,
        m.compile_mode as mode,
        e.thr_txt as txt_eager,
        m.thr_txt as txt_mode,
        m.thr / nullif(e.thr, 0) as speedup,
        m.thr_lo / nullif(e.thr_hi, 0) as speedup_lo,
        m.thr_hi / nullif(e.thr_lo, 0) as speedup_hi,
        1 / e.thr - 1 / m.thr as saving,
        1 / e.thr_hi - 1 / m.thr_lo as saving_lo,
        1 / e.thr_lo - 1 / m.thr_hi as saving_hi,
        m.comp, m.comp_lo, m.comp_hi, m.comp_n,
        coalesce(getvariable('c11_images'), m.images) as images
    from keyed as e
    join keyed as m
        on m.k_mode = e.k_mode
    where e.compile_mode = 'eager'
        and m.compile_mode <> 'eager'
        and e.thr > 0 and m.thr > 0
),

c9 as (
    select
        'C9' as claim_id,
        case
            when speedup_lo >= getvariable('c9_min_speedup') and speedup_hi <= getvariable('c9_max_speedup') then 'holds'
            when speedup_hi < getvariable('c9_min_speedup') or speedup_lo > getvariable('c9_max_speedup') then 'refuted'
            else 'inconclusive'
        end as verdict,
        speedup as value, speedup_lo as lo, speedup_hi as hi,
        greatest(getvariable('c9_min_speedup') - speedup, speedup - getvariable('c9_max_speedup')) as badness,
        [cfg_eager, cfg_mode] as config_ids,
        mode || ' ' || cfg_mode || ' ' || txt_mode || ' img/s over eager ' || cfg_eager || ' ' || txt_eager
            || ': speedup ' || printf('%.3f', speedup) as evidence
    from mode_pairs
    where mode = 'default'
),

c10 as (
    select
        'C10' as claim_id,
        case
            when speedup_lo >= getvariable('c10_min_speedup') and speedup_hi <= getvariable('c10_max_speedup') then 'holds'
            when speedup_hi < getvariable('c10_min_speedup') or speedup_lo > getvariable('c10_max_speedup') then 'refuted'
            else 'inconclusive'
        end as verdict,
        speedup as value, speedup_lo as lo, speedup_hi as hi,
        greatest(getvariable('c10_min_speedup') - speedup, speedup - getvariable('c10_max_speedup')) as badness,
        [cfg_eager, cfg_mode] as config_ids,
        mode || ' ' || cfg_mode || ' ' || txt_mode || ' img/s over eager ' || cfg_eager || ' ' || txt_eager
            || ': speedup ' || printf('%.3f', speedup) as evidence
    from mode_pairs
    where mode in ('reduce-overhead', 'max-autotune')
),

-- break-even images; 'infinity' where the mode saves nothing (never pays back)
c11_pairs as (
    select
        *,
        case when saving > 0 then comp / saving else 'infinity'::double end as breakeven,
        case when saving_hi > 0 then comp_lo / saving_hi when saving_hi <= 0 then 'infinity'::double end as breakeven_lo,
        case when saving_lo > 0 then comp_hi / saving_lo when saving_lo <= 0 then 'infinity'::double end as breakeven_hi
    from mode_pairs
    where comp is not null and images is not null
),

c11 as (
    select
        'C11' as claim_id,
        case
            when breakeven_lo > images then 'holds'
            when breakeven_hi < images then 'refuted'
            else 'inconclusive'
        end as verdict,
        breakeven as value, breakeven_lo as lo, breakeven_hi as hi,
        images / breakeven as badness,
        [cfg_eager, cfg_mode] as config_ids,
        mode || ' ' || cfg_mode || ' against eager ' || cfg_eager || ': compile ' || printf('%.1f', comp)
            || coalesce(' [' || printf('%.1f', comp_lo) || ', ' || printf('%.1f', comp_hi) || ']', '') || ' s n=' || comp_n
            || ', saving ' || printf('%.3f', saving * 1e6) || ' us/img, break-even '
            || case when isinf(breakeven) then 'never' else printf('%.0f', breakeven) end
            || ' images vs ' || printf('%.0f', images) || ' images' as evidence
    from c11_pairs
),

-- C12, C13: local against remote NUMA placement
numa_pairs as (
    select
        l.config_id as cfg_local,
        r.config_id as cfg_remote,
        l.k_numa_bs,
        l.batch_size,
        coalesce(l.rq, '-') || ' patch ' || coalesce(cast(l.patch as varchar), '-')
            || ' depth ' || coalesce(cast(l.depth as varchar), '-') || ' hidden ' || coalesce(cast(l.hidden as varchar), '-') as label,
        l.thr_txt as txt_local,
        r.thr_txt as txt_remote,
        l.thr / nullif(r.thr, 0) as ratio,
        l.thr_lo / nullif(r.thr_hi, 0) as ratio_lo,
        l.thr_hi / nullif(r.thr_lo, 0) as ratio_hi
    from keyed as l
    join keyed as r
        on r.k_numa = l.k_numa
    where l.numa_placement = 'local'
        and r.numa_placement = 'remote'
        and l.thr is not null and r.thr is not null
),

c12 as (
    select
        'C12' as claim_id,
        case
            when ratio_lo >= getvariable('c12_min_ratio') and ratio_hi <= getvariable('c12_max_ratio') then 'holds'
            when ratio_hi < getvariable('c12_min_ratio') or ratio_lo > getvariable('c12_max_ratio') then 'refuted'
            else 'inconclusive'
        end as verdict,
        ratio as value, ratio_lo as lo, ratio_hi as hi,
        greatest(getvariable('c12_min_ratio') - ratio, ratio - getvariable('c12_max_ratio')) as badness,
        [cfg_local, cfg_remote] as config_ids,
        'local ' || cfg_local || ' ' || txt_local || ' img/s vs remote ' || cfg_remote || ' ' || txt_remote
            || ': ratio ' || printf('%.3f', ratio) as evidence
    from numa_pairs
),

c13 as (
    select
        'C13' as claim_id,
        case
            when bool_or(o.batch_size <> t.batch_size and o.ratio_lo > t.ratio_hi) then 'refuted'
            when bool_and(o.batch_size = t.batch_size or o.ratio_hi < t.ratio_lo) then 'holds'
            else 'inconclusive'
        end as verdict,
        any_value(t.ratio) as value, any_value(t.ratio_lo) as lo, any_value(t.ratio_hi) as hi,
        max(o.ratio) filter (where o.batch_size <> t.batch_size) - any_value(t.ratio) as badness,
        list_distinct(flatten(list([o.cfg_local, o.cfg_remote]))) as config_ids,
        any_value(t.label) || ': local/remote by batch size ' || string_agg(
            o.batch_size || ' ' || printf('%.3f', o.ratio)
                || coalesce(' [' || printf('%.3f', o.ratio_lo) || ', ' || printf('%.3f', o.ratio_hi) || ']', ''),
            '; ' order by o.batch_size
        ) as evidence
    from numa_pairs as t
    join numa_pairs as o
        on o.k_numa_bs = t.k_numa_bs
    where t.batch_size = getvariable('c13_batch_size')
    group by t.k_numa_bs, t.cfg_local
    having count(*) filter (where o.batch_size <> t.batch_size) > 0
),

-- C14: H2D link rate of every config
c14 as (
    select
        'C14' as claim_id,
        case
            when h2d_lo >= getvariable('c14_min_gbps') and h2d_hi <= getvariable('c14_max_gbps') then 'holds'
            when h2d_hi < getvariable('c14_min_gbps') or h2d_lo > getvariable('c14_max_gbps') then 'refuted'
            else 'inconclusive'
        end as verdict,
        h2d as value, h2d_lo as lo, h2d_hi as hi,
        greatest(getvariable('c14_min_gbps') - h2d, h2d - getvariable('c14_max_gbps')) as badness,
        [config_id] as config_ids,
        config_id || ': H2D ' || printf('%.2f', h2d)
            || coalesce(' [' || printf('%.2f', h2d_lo) || ', ' || printf('%.2f', h2d_hi) || ']', '')
            || ' GB/s = ' || printf('%.0f', h2d * 1e9 / 1048576) || ' MiB/s n=' || h2d_n as evidence
    from keyed
    where h2d is not null
),

-- C15: async against sync
c15 as (
    select
        'C15' as claim_id,
        case
            when ratio_lo >= getvariable('c15_min_ratio') and ratio_hi <= getvariable('c15_max_ratio') then 'holds'
            when ratio_hi < getvariable('c15_min_ratio') or ratio_lo > getvariable('c15_max_ratio') then 'refuted'
            else 'inconclusive'
        end as verdict,
        ratio as value, ratio_lo as lo, ratio_hi as hi,
        greatest(getvariable('c15_min_ratio') - ratio, ratio - getvariable('c15_max_ratio')) as badness,
        [cfg_sync, cfg_async] as config_ids,
        'async q' || q || ' ' || cfg_async || ' ' || txt_async || ' img/s vs sync ' || cfg_sync || ' ' || txt_sync
            || ': ratio ' || printf('%.3f', ratio) as evidence
    from (
        select
            s.config_id as cfg_sync,
            a.config_id as cfg_async,
            a.queue_depth as q,
            s.thr_txt as txt_sync,
            a.thr_txt as txt_async,
            a.thr / nullif(s.thr, 0) as ratio,
            a.thr_lo / nullif(s.thr_hi, 0) as ratio_lo,
            a.thr_hi / nullif(s.thr_lo, 0) as ratio_hi
        from keyed as s
        join keyed as a
            on a.k_pipe_q = s.k_pipe_q
        where s.pipeline = 'sync'
            and a.pipeline = 'async'
            and s.thr is not null and a.thr is not null
    )
),

-- C16: queue depth c16_queue_depth against every deeper queue
c16 as (
    select
        'C16' as claim_id,
        case
            when ratio_lo >= getvariable('c16_min_ratio') then 'holds'
            when ratio_hi < getvariable('c16_min_ratio') then 'refuted'
            else 'inconclusive'
        end as verdict,
        ratio as value, ratio_lo as lo, ratio_hi as hi,
        getvariable('c16_min_ratio') - ratio as badness,
        [cfg_q, cfg_deep] as config_ids,
        'q' || q || ' ' || cfg_q || ' ' || txt_q || ' img/s vs q' || q_deep || ' ' || cfg_deep || ' ' || txt_deep
            || ': ratio ' || printf('%.3f', ratio) as evidence
    from (
        select
            a.config_id as cfg_q,
            d.config_id as cfg_deep,
            a.queue_depth as q,
            d.queue_depth as q_deep,
            a.thr_txt as txt_q,
            d.thr_txt as txt_deep,
            a.thr / nullif(d.thr, 0) as ratio,
            a.thr_lo / nullif(d.thr_hi, 0) as ratio_lo,
            a.thr_hi / nullif(d.thr_lo, 0) as ratio_hi
        from keyed as a
        join keyed as d
            on d.k_q = a.k_q
        where a.pipeline = 'async'
            and a.queue_depth = getvariable('c16_queue_depth')
            and d.queue_depth > a.queue_depth
            and a.thr is not null and d.thr is not null
    )
),

-- C17: CPU against GPU preprocessing
c17 as (
    select
        'C17' as claim_id,
        case
            when ratio_lo > getvariable('c17_min_ratio') and ratio_hi <= getvariable('c17_max_ratio') then 'holds'
            when ratio_hi <= getvariable('c17_min_ratio') or ratio_lo > getvariable('c17_max_ratio') then 'refuted'
            else 'inconclusive'
        end as verdict,
        ratio as value, ratio_lo as lo, ratio_hi as hi,
        greatest(getvariable('c17_min_ratio') - ratio, ratio - getvariable('c17_max_ratio')) as badness,
        [cfg_cpu, cfg_gpu] as config_ids,
        'cpu ' || cfg_cpu || ' ' || txt_cpu || ' img/s vs gpu ' || cfg_gpu || ' ' || txt_gpu
            || ': ratio ' || printf('%.3f', ratio) as evidence
    from (
        select
            c.config_id as cfg_cpu,
            g.config_id as cfg_gpu,
            c.thr_txt as txt_cpu,
            g.thr_txt as txt_gpu,
            c.thr / nullif(g.thr, 0) as ratio,
            c.thr_lo / nullif(g.thr_hi, 0) as ratio_lo,
            c.thr_hi / nullif(g.thr_lo, 0) as ratio_hi
        from keyed as c
        join keyed as g
            on g.k_pre = c.k_pre
        where c.preprocess = 'cpu'
            and g.preprocess = 'gpu'
            and c.thr is not null and g.thr is not null
    )
),

units as (
    select * from c1
    union all by name select * from c2
    union all by name select * from c3
    union all by name select * from c4
    union all by name select * from c5
    union all by name select * from c6
    union all by name select * from c7
    union all by name select * from c8
    union all by name select * from c9
    union all by name select * from c10
    union all by name select * from c11
    union all by name select * from c12
    union all by name select * from c13
    union all by name select * from c14
    union all by name select * from c15
    union all by name select * from c16
    union all by name select * from c17
),

ranked as (
    select
        *,
        row_number() over (
            partition by claim_id
            order by
                case verdict when 'refuted' then 0 when 'inconclusive' then 1 else 2 end,
                badness desc nulls last,
                evidence
        ) as pos
    from units
),

decided as (
    select
        claim_id,
        case
            when count(*) filter (where verdict = 'refuted') > 0 then 'refuted'
            when count(*) filter (where verdict = 'holds') = count(*) then 'holds'
            else 'inconclusive'
        end as verdict,
        any_value(value) filter (where pos = 1) as value,
        any_value(lo) filter (where pos = 1) as lo,
        any_value(hi) filter (where pos = 1) as hi,
        any_value(evidence) filter (where pos = 1) || ' | units: '
            || count(*) filter (where verdict = 'holds') || ' hold, '
            || count(*) filter (where verdict = 'refuted') || ' refuted, '
            || count(*) filter (where verdict = 'inconclusive') || ' inconclusive' as evidence
    from ranked
    group by claim_id
),

used as (
    select u.claim_id, count(*) as configs, sum(k.runs) as runs
    from (select distinct claim_id, unnest(config_ids) as config_id from units) as u
    join keyed as k
        on k.config_id = u.config_id
    group by u.claim_id
),

claim_list as (
    select * from (values
        (1, 'C1', 'rq1', 'Models with hidden >= 768 reach 97-99 % compute utilisation and pipeline efficiency',
            'gpu_busy >= ' || getvariable('c1_min_busy') || ' for every config with hidden >= ' || getvariable('c1_min_hidden'),
            'no usable config with hidden >= ' || getvariable('c1_min_hidden') || ' and a gpu_busy'),
        (2, 'C2', 'rq1', 'Hidden-384 models are limited to 85-88 % efficiency regardless of other settings',
            'gpu_busy in [' || getvariable('c2_min_busy') || ', ' || getvariable('c2_max_busy') || '] for every config with hidden = ' || getvariable('c2_hidden'),
            'no usable config with hidden = ' || getvariable('c2_hidden') || ' and a gpu_busy'),
        (3, 'C3', 'rq1', 'A clear threshold around hidden 768',
            'largest gpu_busy step between adjacent hidden sizes (all else equal) is ' || getvariable('c3_hidden_below') || '->' || getvariable('c3_hidden_above'),
            'no group of configs with hidden ' || getvariable('c3_hidden_below') || ', ' || getvariable('c3_hidden_above') || ' and another hidden size'),
        (4, 'C4', 'rq1', 'Smaller patches give better GPU utilisation',
            'gpu_busy(smaller patch) - gpu_busy(next larger patch) > ' || getvariable('c4_min_gain') || ' at fixed depth, hidden and settings',
            'no pair of configs differing only in patch size'),
        (5, 'C5', 'rq1', 'Deeper models keep better performance',
            'gpu_busy drops by at most ' || getvariable('c5_max_drop') || ' from a depth to the next deeper one at fixed patch, hidden and settings',
            'no pair of configs differing only in depth'),
        (6, 'C6', 'rq2', 'Well-designed models keep their performance from 256^2 to 2048^2',
            'token rate (img/s x tokens) within +-' || getvariable('c6_tolerance') || ' of the lowest resolution''s, per model',
            'no model measured at two resolutions'),
        (7, 'C7', 'rq2', 'Memory needs scale predictably (linearly) with resolution',
            'R2 of peak GPU memory on tokens >= ' || getvariable('c7_min_r2') || ' per model (>= ' || getvariable('claims_min_points') || ' token counts)',
            'no model with peak memory at ' || getvariable('claims_min_points') || ' or more token counts'),
        (8, 'C8', 'rq2', 'Patch count matters more than absolute resolution',
            'R2(throughput on tokens) - R2(throughput on pixels) > ' || getvariable('c8_min_r2_gap'),
            'no group of configs varying patch size and resolution together (>= ' || getvariable('claims_min_points') || ' configs, >= 2 patch sizes): tokens are proportional to pixels otherwise'),
        (9, 'C9', 'rq3', 'torch.compile gives minimal benefit, often 1-2 % slower than eager',
            'speedup of default over eager in [' || getvariable('c9_min_speedup') || ', ' || getvariable('c9_max_speedup') || ']',
            'no pair of eager and default configs'),
        (10, 'C10', 'rq3', 'Advanced compile modes (reduce-overhead, max-autotune) are 30-40 % faster',
            'speedup of reduce-overhead and of max-autotune over eager in [' || getvariable('c10_min_speedup') || ', ' || getvariable('c10_max_speedup') || ']',
            'no pair of eager and reduce-overhead or max-autotune configs'),
        (11, 'C11', 'rq3', 'Compilation overhead outweighs its benefit',
            'break-even images (compile_s / per-image saving) > ' || coalesce(cast(getvariable('c11_images') as varchar), 'the compiled run''s images'),
            'no pair of eager and compiled configs with a compile time'),
        (12, 'C12', 'rq4', 'NUMA local vs remote differs by only ~1.01-1.02x',
            'throughput local/remote in [' || getvariable('c12_min_ratio') || ', ' || getvariable('c12_max_ratio') || ']',
            'no pair of local and remote configs (a one-node host records remote runs as unavailable)'),
        (13, 'C13', 'rq4', 'Single-batch workloads are the most NUMA-sensitive',
            'local/remote ratio at batch ' || getvariable('c13_batch_size') || ' above that of every other batch size',
            'no local/remote pairs at batch ' || getvariable('c13_batch_size') || ' and another batch size'),
        (14, 'C14', '-', 'Host-device memory bandwidth is 21-23 GB/s in every configuration',
            'H2D link rate in [' || getvariable('c14_min_gbps') || ', ' || getvariable('c14_max_gbps') || '] GB/s for every config',
            'no usable config with H2D copies'),
        (15, 'C15', 'rq5', 'Basic sync and async pipelines perform alike',
            'throughput async/sync in [' || getvariable('c15_min_ratio') || ', ' || getvariable('c15_max_ratio') || ']',
            'no pair of sync and async configs'),
        (16, 'C16', 'rq5', 'Queue depth 2 often beats deeper queues',
            'throughput q' || getvariable('c16_queue_depth') || ' / throughput of each deeper queue >= ' || getvariable('c16_min_ratio'),
            'no async configs at queue depth ' || getvariable('c16_queue_depth') || ' and a deeper one'),
        (17, 'C17', 'rq5', 'CPU preprocessing slightly outperforms GPU preprocessing',
            'throughput cpu/gpu in (' || getvariable('c17_min_ratio') || ', ' || getvariable('c17_max_ratio') || ']',
            'no pair of cpu and gpu preprocessing configs')
    ) as t(pos, claim_id, rq, claim, threshold, no_data)
),

final as (
    select
        l.claim_id,
        l.rq,
        l.claim,
        coalesce(d.verdict, 'no data') as verdict,
        case when not isinf(d.value) then round(d.value, 4) end as value,
        case when not isinf(d.lo) then round(d.lo, 4) end as ci_low,
        case when not isinf(d.hi) then round(d.hi, 4) end as ci_high,
        l.threshold,
        coalesce(u.configs, 0) as configs,
        coalesce(u.runs, 0) as runs,
        coalesce(d.evidence, l.no_data) as evidence
    from claim_list as l
    left join decided as d
        on d.claim_id = l.claim_id
    left join used as u
        on u.claim_id = l.claim_id
    where getvariable('claim') is null or l.claim_id = getvariable('claim')
    order by l.pos
)

select * from final
