-- name: run_event_counts
-- description: Runs whose row counts (runs.kernels, memcpys, memsets, cuda_api, nvtx, gpu_samples) differ from the rows the tables hold, status-ok runs whose export landed without any event, and batches whose runs count differs from their runs rows.
-- inputs: batches, runs, kernels, memcpys, memsets, cuda_api, nvtx, gpu_samples
-- derive: per-batch

with

runs_ as (
    select * from runs
),

counted as (
    select batch_id, run_id, 'kernels' as "table", count(*) as n from kernels group by all
    union all select batch_id, run_id, 'memcpys', count(*) from memcpys group by all
    union all select batch_id, run_id, 'memsets', count(*) from memsets group by all
    union all select batch_id, run_id, 'cuda_api', count(*) from cuda_api group by all
    union all select batch_id, run_id, 'nvtx', count(*) from nvtx group by all
    union all select batch_id, run_id, 'gpu_samples', count(*) from gpu_samples group by all
),

recorded as (
    unpivot (
        select batch_id, run_id, kernels, memcpys, memsets, cuda_api, nvtx, gpu_samples from runs_
    )
    on kernels, memcpys, memsets, cuda_api, nvtx, gpu_samples
    into name "table" value n
),

count_mismatch as (
    select
        r.batch_id,
        r.run_id,
        r."table" || ': runs says ' || r.n || ', table holds ' || coalesce(c.n, 0) as problem
    from recorded as r
    left join counted as c
        on c.batch_id = r.batch_id and c.run_id = r.run_id and c."table" = r."table"
    where r.n is distinct from coalesce(c.n, 0)
),

-- An ok run without an export (source_file null) has no events by design:
-- a run left untraced by trace_repeats, or a run record ingested with
-- --runs-only. Only a run whose export landed must have events.
ok_without_events as (
    select r.batch_id, r.run_id, 'status ok but no kernel, memcpy, memset, API or NVTX rows' as problem
    from runs_ as r
    where r.status = 'ok'
      and r.source_file is not null
      and not exists (
          select 1 from counted as c
          where c.batch_id = r.batch_id and c.run_id = r.run_id
            and c."table" <> 'gpu_samples'
      )
),

batch_runs as (
    select
        b.batch_id,
        cast(null as varchar) as run_id,
        'batches says ' || b.runs || ' runs, runs holds ' || count(distinct r.run_id) as problem
    from batches as b
    left join runs_ as r
        on r.batch_id = b.batch_id
    group by b.batch_id, b.runs
    having b.runs <> count(distinct r.run_id)
),

duplicate_runs as (
    select batch_id, run_id, 'runs holds ' || count(*) || ' rows for this run' as problem
    from runs_
    group by batch_id, run_id
    having count(*) > 1
),

final as (
    select * from count_mismatch
    union all select * from ok_without_events
    union all select * from batch_runs
    union all select * from duplicate_runs
)

select * from final
order by batch_id, run_id, problem
