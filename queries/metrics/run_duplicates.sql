-- name: run_duplicates
-- description: One row per run that is a copy of a run committed earlier (the same measurement ingested again, under another batch or twice in one): the copy, the original it repeats and how they matched.
-- inputs: runs, batches
--
-- Two runs are one measurement when
--   run content   their runs.run_content_sha256 are equal (SHA-256 of the
--                 export's SHA-256 and run.json less its command lines,
--                 computed at ingest: etl/ingest/duplicates.go), or
--   export        for runs ingested before that column existed (it is
--                 null on one side): the same export_sha256 and the same
--                 started_at (run.json's start, null for bare exports).
-- Of a group of copies the earliest-committed run (batches.ingested_at,
-- then batch_id, run_id) is the original; every other one gets a row
-- here. usable_runs leaves the copies out, so n counts each measurement
-- once; the check duplicate_runs makes `vitlab verify` fail while any
-- copy is in the warehouse (vitlab ingest refuses new ones unless
-- --allow-duplicate-runs). Runs with neither an export nor a content hash
-- are never copies.
create or replace view run_duplicates as
with
    runs_in as (
        select
            r.batch_id,
            r.run_id,
            r.run_content_sha256,
            r.export_sha256,
            r.started_at,
            b.ingested_at
        from runs as r
        left join batches as b
            on b.batch_id = r.batch_id
    ),
    pairs as (
        select
            c.batch_id, c.run_id, o.batch_id as original_batch_id, o.run_id as original_run_id,
            o.ingested_at as original_ingested_at, 'run content' as matched
        from runs_in as c
        join runs_in as o
            on o.run_content_sha256 = c.run_content_sha256
        union all
        select
            c.batch_id, c.run_id, o.batch_id, o.run_id,
            o.ingested_at, 'export'
        from runs_in as c
        join runs_in as o
            on o.export_sha256 = c.export_sha256
           and o.started_at is not distinct from c.started_at
        where c.run_content_sha256 is null or o.run_content_sha256 is null
    ),
    earlier as (
        select p.*
        from pairs as p
        join runs_in as c
            on c.batch_id = p.batch_id and c.run_id = p.run_id
        where (p.original_ingested_at, p.original_batch_id, p.original_run_id)
            < (c.ingested_at, c.batch_id, c.run_id)
    ),
    final as (
        select
            batch_id,
            run_id,
            arg_min(original_batch_id, (original_ingested_at, original_batch_id, original_run_id)) as original_batch_id,
            arg_min(original_run_id, (original_ingested_at, original_batch_id, original_run_id)) as original_run_id,
            arg_min(matched, (original_ingested_at, original_batch_id, original_run_id)) as matched
        from earlier
        group by batch_id, run_id
        order by batch_id, run_id
    )
select * from final;
