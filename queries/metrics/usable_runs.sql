-- name: usable_runs
-- description: The runs findings, claims and configuration statistics may use: status ok and not named by runs_flagged; one row per run with its run_config columns.
-- inputs: run_config, runs_flagged
--
-- Defined once so that config_stats, config_summary, the findings and the
-- claims count the same runs. A run that runs_flagged names (its trace
-- contradicts its recorded settings: queries/checks/settings_vs_trace.sql)
-- or that did not end ok is left out.
create or replace view usable_runs as
with
    config as (
        select * from run_config
    ),
    flagged as (
        select distinct batch_id, run_id from runs_flagged
    ),
    final as (
        select c.*
        from config as c
        anti join flagged as f
            on f.batch_id = c.batch_id and f.run_id = c.run_id
        where c.status = 'ok'
    )
select * from final;
