-- name: duplicate_runs
-- description: Runs whose content another run committed earlier already holds (one measurement ingested twice): each copy, the original it repeats and how they matched; the statistics count only the original (usable_runs).
-- inputs: run_duplicates
--
-- vitlab ingest refuses such a run unless --allow-duplicate-runs; this
-- finds the copies that landed anyway, and those in warehouses built
-- before ingest checked (matched = 'export': same export and start time).
-- Remove a copy by replacing its batch without it (vitlab ingest --replace).
with
    copies as (
        select * from run_duplicates
    ),
    final as (
        select
            batch_id,
            run_id,
            original_batch_id,
            original_run_id,
            matched,
            'same ' || case matched when 'run content' then 'export and run.json' else 'export and start time' end
                || ' as batch ' || original_batch_id || ' run ' || original_run_id || ', committed earlier' as detail
        from copies
        order by batch_id, run_id, original_batch_id, original_run_id
    )
select * from final
