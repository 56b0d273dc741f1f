-- name: orphan_run_ids
-- description: Rows of devices, event tables and gpu_samples whose (batch_id, run_id) has no runs row, and runs whose batch has no batches row.
-- inputs: batches, runs, devices, kernels, memcpys, memsets, cuda_api, nvtx, gpu_samples
-- derive: per-batch

with

run_keys as (
    select distinct batch_id, run_id from runs
),

batch_keys as (
    select distinct batch_id from batches
),

referenced as (
    select 'devices' as "table", batch_id, run_id from devices
    union all select 'kernels', batch_id, run_id from kernels
    union all select 'memcpys', batch_id, run_id from memcpys
    union all select 'memsets', batch_id, run_id from memsets
    union all select 'cuda_api', batch_id, run_id from cuda_api
    union all select 'nvtx', batch_id, run_id from nvtx
    union all select 'gpu_samples', batch_id, run_id from gpu_samples
),

orphan_rows as (
    select r."table", r.batch_id, r.run_id, count(*) as rows
    from referenced as r
    anti join run_keys as k
        on k.batch_id = r.batch_id and k.run_id = r.run_id
    group by r."table", r.batch_id, r.run_id
),

orphan_runs as (
    select 'runs' as "table", r.batch_id, r.run_id, 1 as rows
    from runs as r
    anti join batch_keys as b
        on b.batch_id = r.batch_id
),

final as (
    select * from orphan_rows
    union all
    select * from orphan_runs
)

select * from final
order by batch_id, "table", run_id
