-- name: nvtx_gpu_projection
-- description: NVTX rows whose GPU projection is inconsistent: gpu_end before gpu_start, GPU ops without a span or a span without ops, or a projection on an event that is not a range.
-- inputs: nvtx
-- derive: per-batch

with

events as (
    select * from nvtx
),

final as (
    select
        batch_id,
        run_id,
        range_id,
        style,
        gpu_start,
        gpu_end,
        gpu_ops,
        case
            when gpu_end < gpu_start then 'gpu_end before gpu_start'
            when gpu_ops > 0 and (gpu_start is null or gpu_end is null) then 'gpu ops without a gpu span'
            when coalesce(gpu_ops, 0) = 0 and (gpu_start is not null or gpu_end is not null) then 'gpu span without gpu ops'
            when gpu_ops < 0 then 'negative gpu ops'
            when style not in ('PushPop', 'StartEnd') and gpu_ops is not null then 'projection on an event that is not a range'
        end as problem
    from events
)

select * from final
where problem is not null
order by batch_id, run_id, range_id
