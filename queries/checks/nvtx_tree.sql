-- name: nvtx_tree
-- description: NVTX ranges whose parent_id names no range of the same run and thread, or whose depth is not one more than their parent's.
-- inputs: nvtx
-- derive: per-batch

with

events as (
    select * from nvtx
),

children as (
    select * from events
    where parent_id is not null
),

final as (
    select
        c.batch_id,
        c.run_id,
        c.range_id,
        c.parent_id,
        c.depth,
        p.depth as parent_depth,
        case
            when p.range_id is null then 'parent range missing'
            when p.global_tid is distinct from c.global_tid then 'parent on another thread'
            when c.depth is distinct from p.depth + 1 then 'depth is not parent depth + 1'
        end as problem
    from children as c
    left join events as p
        on p.batch_id = c.batch_id and p.run_id = c.run_id and p.range_id = c.parent_id
)

select * from final
where problem is not null
order by batch_id, run_id, range_id
