-- name: unknown_copy_kinds
-- description: Memory copies whose copy kind id has no nsys label in copy_kinds (an nsys newer than vitlab knows, or an export read wrongly).
-- inputs: memcpys, copy_kinds
-- derive: per-batch

with

copies as (
    select * from memcpys
),

kinds as (
    select * from copy_kinds
),

final as (
    select c.batch_id, c.run_id, c.copy_kind_id, count(*) as copies
    from copies as c
    anti join kinds as k
        on k.copy_kind_id = c.copy_kind_id
    group by c.batch_id, c.run_id, c.copy_kind_id
)

select * from final
order by batch_id, run_id, copy_kind_id
