-- name: claims
-- description: One row per published claim C1-C17: its verdict (holds, refuted, inconclusive, no data) from the runs of the warehouse, the deciding estimate with its unit, interval, confidence level and method, the fewest runs on a side, the runs per side that would decide it, and why.
-- inputs: config_compare, config_stats, claim_verdicts, claim_list, runs_left_out
-- rq: -
-- param: claim = null  -- only this claim id, e.g. C3 (every claim when null)
-- param: claims_alpha = 0.05  -- error rate of each one-sided test: holds needs the 1 - 2 alpha (90 %) interval inside the band or above the edge, refuted the 1 - 2 alpha / m interval outside (m units, Bonferroni)
-- param: claims_assumed_cv = 0.05  -- run-to-run coefficient of variation assumed for runs_needed where a side has fewer than 2 runs (no observed spread)
-- param: claims_min_runs = 3  -- runs every configuration of an R-squared fit needs before C7 or C8 is decided on its point estimate (an R-squared has no interval here)
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
-- param: c17_min_ratio = 1.0  -- C17: lower end of the CPU/GPU preprocessing throughput ratio band
-- param: c17_max_ratio = 1.05  -- C17: and be at most this
--
-- The claims' testable forms are in claims/claim_list.sql; each claim's
-- units in claims/claim_cNN.sql (one file per claim, one shape); the
-- interval and the test of every unit in claims/claim_tests.sql; the
-- verdict of a claim from its units in claims/claim_verdicts.sql. The
-- interval methods themselves are views/05_stats.sql.
--
-- What is used: the runs of usable_runs (status ok, not flagged), each
-- reduced to one value per metric (run_values: the run is the unit of
-- replication, never a clean window). A unit is a configuration, a pair
-- of configurations that differ in one setting only, or a contrast over
-- a few of them; its estimate and interval come from the run values of
-- every side (Welch's t on log values for levels and ratios, on values
-- for differences), with confidence level and method named.
--
-- Verdicts: holds only when every unit's 90 % interval (alpha = 0.05 per
-- side) lies inside the band or above the edge (an equivalence test for a
-- band claim); refuted only when one unit's interval, widened for the
-- number of units (Bonferroni), lies wholly outside; no data without
-- units; inconclusive otherwise. A unit with fewer than 2 runs on a side
-- has no interval, so it can never decide: a NULL bound is never a pass.
--
-- Columns: claim_id, rq, claim (the published wording, short), verdict,
-- value (the deciding unit's estimate) and unit, ci_low, ci_high,
-- conf_level (of that interval), method, n_runs_min (fewest runs on any
-- side of any unit), runs_needed (runs per side that would decide the
-- claim at the observed run-to-run spread, or at claims_assumed_cv where a
-- side has one run), reason, same_session (every unit's runs from one
-- batch), threshold (the testable form with the params' values), configs,
-- runs (usable runs of those configs), flagged_runs (runs of them left
-- out as flagged), evidence (the deciding unit and the count of units per
-- verdict). Numbers rounded to 4 decimals.

with

-- each computed once per query, then read by every claim by name
configs as materialized (
    select * from config_compare
),

stats as materialized (
    select * from config_stats
),

-- materialized: DuckDB 1.5 fails to plan the left join below against the
-- inlined macro (an internal "delim_index" binding error)
verdicts as materialized (
    select * from claim_verdicts('configs', 'stats')
),

about as (
    select * from claim_list()
),

left_out as (
    -- ok runs of each research question that usable_runs leaves out, with
    -- why: a claim without units says so, as "no data" may mean that every
    -- run of a configuration it needs was measured but found invalid
    select
        rq,
        count(distinct (batch_id, run_id)) as runs,
        string_agg(distinct reason, ', ' order by reason) as why
    from runs_left_out
    group by rq
),

final as (
    select
        l.claim_id,
        l.rq,
        l.claim,
        coalesce(v.verdict, 'no data') as verdict,
        round(v.value, 4) as value,
        v.unit,
        round(v.ci_low, 4) as ci_low,
        round(v.ci_high, 4) as ci_high,
        round(v.conf_level, 4) as conf_level,
        v.method,
        v.n_runs_min,
        v.runs_needed,
        coalesce(v.reason, l.no_data
            || case when o.runs > 0 then '; ' || o.runs || ' ok run' || case when o.runs = 1 then '' else 's' end
                || ' of ' || l.rq || ' left out (' || o.why || ')' else '' end) as reason,
        v.same_session,
        l.threshold,
        coalesce(v.configs, 0) as configs,
        coalesce(v.runs, 0) as runs,
        coalesce(v.flagged_runs, 0) as flagged_runs,
        coalesce(v.evidence, l.no_data) as evidence
    from about as l
    left join verdicts as v
        on v.claim_id = l.claim_id
    left join left_out as o
        on o.rq = l.rq and v.claim_id is null
    where getvariable('claim') is null or l.claim_id = getvariable('claim')
    order by l.pos
)

select * from final
