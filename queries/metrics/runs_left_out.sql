-- name: runs_left_out
-- description: One row per (run, reason) for each run that ended ok but that usable_runs leaves out of every number: its research question, configuration and why — an invalid run_validity flag (window_trend, window_cov, clock_drop, forward_slow, host_slow), a copy of an earlier run, or settings its trace contradicts.
-- inputs: run_config, usable_runs, run_validity, run_duplicates
--
-- reason is the run_validity flag of severity 'invalid'; else 'copy' (a
-- copy of a run committed earlier, run_duplicates); else
-- 'settings_vs_trace' (runs_flagged, the only other way usable_runs drops
-- an ok run). A run with several invalid flags has a row per flag: count
-- runs with count(distinct (batch_id, run_id)). The claims and the
-- report's answers say with it why a claim or an RQ lacks runs.
create or replace view runs_left_out as
with
    left_out as (
        select r.batch_id, r.run_id, r.rq, r.config_id
        from run_config as r
        anti join usable_runs as u
            on u.batch_id = r.batch_id and u.run_id = r.run_id
        where r.status = 'ok'
    ),
    invalid as (
        select batch_id, run_id, flag from run_validity
        where severity = 'invalid'
    ),
    final as (
        select
            l.batch_id,
            l.run_id,
            l.rq,
            l.config_id,
            coalesce(v.flag, case when d.run_id is not null then 'copy' else 'settings_vs_trace' end) as reason
        from left_out as l
        left join invalid as v
            on v.batch_id = l.batch_id and v.run_id = l.run_id
        left join run_duplicates as d
            on d.batch_id = l.batch_id and d.run_id = l.run_id
    )
select * from final;
