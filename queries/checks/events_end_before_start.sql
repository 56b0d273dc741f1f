-- name: events_end_before_start
-- description: Events that end before they start (kernels, memcpys, memsets, API calls, NVTX ranges).
-- inputs: kernels, memcpys, memsets, cuda_api, nvtx
-- derive: per-batch

with

kernel_events as (
    select 'kernels' as "table", batch_id, run_id, start, "end" from kernels
),

memcpy_events as (
    select 'memcpys' as "table", batch_id, run_id, start, "end" from memcpys
),

memset_events as (
    select 'memsets' as "table", batch_id, run_id, start, "end" from memsets
),

api_events as (
    select 'cuda_api' as "table", batch_id, run_id, start, "end" from cuda_api
),

nvtx_events as (
    select 'nvtx' as "table", batch_id, run_id, start, "end" from nvtx
),

events as (
    select * from kernel_events
    union all select * from memcpy_events
    union all select * from memset_events
    union all select * from api_events
    union all select * from nvtx_events
),

final as (
    select "table", batch_id, run_id, start, "end"
    from events
    where "end" < start
    order by batch_id, "table", run_id, start, "end"
)

select * from final
