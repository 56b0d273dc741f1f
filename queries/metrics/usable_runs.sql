-- name: usable_runs
-- description: The runs findings, claims and configuration statistics may use: status ok, not named by runs_flagged, no flag of severity invalid in run_validity, not a copy of an earlier run (run_duplicates); one row per run with its run_config columns, trace_ok and validity_flags.
-- inputs: run_config, runs_flagged, run_validity, run_duplicates
--
-- Defined once so that config_stats, config_summary, the findings and the
-- claims count the same runs. A run is left out when
--   - it did not end ok;
--   - runs_flagged names it (its trace contradicts its recorded settings:
--     queries/checks/settings_vs_trace.sql);
--   - run_validity gives it a flag of severity 'invalid' (its clean
--     windows trend or scatter beyond the limits, or its SM clock fell):
--     its measurement is not a steady-state value of the configuration;
--   - it is a copy of a run committed earlier (run_duplicates): one
--     measurement counts once, as its earliest-committed copy.
-- Kept with a flag of severity 'trace' (profiler overhead beyond the
-- limit), a run has trace_ok = false: its untraced values (clean windows:
-- clean_throughput, energy) count, its trace-derived metrics (gpu_busy,
-- copy rates and busy fractions, kernels, latency and FLOPs from the
-- trace, the seed_* metrics) must not. validity_flags lists every flag the
-- run raised (null when none), so a reader sees why.
create or replace view usable_runs as
with
    config as (
        select * from run_config
    ),
    flagged as (
        select distinct batch_id, run_id from runs_flagged
    ),
    validity as (
        select
            batch_id,
            run_id,
            bool_or(severity = 'invalid') as invalid,
            bool_or(severity = 'trace') as trace_flagged,
            string_agg(flag, ', ' order by flag) as validity_flags
        from run_validity
        group by batch_id, run_id
    ),
    copies as (
        select batch_id, run_id from run_duplicates
    ),
    final as (
        select
            c.*,
            not coalesce(v.trace_flagged, false) as trace_ok,
            v.validity_flags
        from config as c
        left join validity as v
            on v.batch_id = c.batch_id and v.run_id = c.run_id
        anti join flagged as f
            on f.batch_id = c.batch_id and f.run_id = c.run_id
        anti join copies as d
            on d.batch_id = c.batch_id and d.run_id = c.run_id
        where c.status = 'ok'
          and not coalesce(v.invalid, false)
    )
select * from final;
