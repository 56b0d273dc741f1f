-- name: gpu_intervals
-- description: Every GPU operation of a run that overlaps W, clipped to W, once for each interval set it belongs to (kernel, h2d, d2h, copy, kernel_copy, any).
-- inputs: kernels, memcpys, memsets, run_window
--
-- Sets: kernel (kernels), h2d (HtoD copies), d2h (DtoH copies), copy (every
-- memcpy), kernel_copy (kernels and memcpys), any (kernels, memcpys,
-- memsets). An operation is cut to [w_start, w_end]; one outside W (or in
-- an empty W) has no row. gpu_interval_union merges each set.
create or replace view gpu_intervals as
with
    ops as (
        select batch_id, run_id, 'kernel' as op, cast(null as varchar) as kind, start, "end" from kernels
        union all
        select batch_id, run_id, 'memcpy' as op, kind, start, "end" from memcpys
        union all
        select batch_id, run_id, 'memset' as op, cast(null as varchar) as kind, start, "end" from memsets
    ),
    windows as (
        select * from run_window
    ),
    clipped as (
        select
            t.batch_id,
            t.run_id,
            t.op,
            t.kind,
            greatest(t.start, w.w_start) as start,
            least(t."end", w.w_end) as "end"
        from ops as t
        join windows as w
            on w.batch_id = t.batch_id and w.run_id = t.run_id
        where t.start < w.w_end and t."end" > w.w_start
    ),
    final as (
        -- one row per (interval, set it belongs to); set_id orders the sets
        -- and run_key = hash(batch_id, run_id): integer window keys sort
        -- faster than the text ids (gpu_interval_union)
        select batch_id, run_id, hash(batch_id, run_id) as run_key, set_id, set_name, start, "end"
        from (
            select *, 1 as set_id, 'kernel' as set_name from clipped where op = 'kernel'
            union all
            select *, 2, 'h2d' from clipped where kind = 'HtoD'
            union all
            select *, 3, 'd2h' from clipped where kind = 'DtoH'
            union all
            select *, 4, 'copy' from clipped where op = 'memcpy'
            union all
            select *, 5, 'kernel_copy' from clipped where op in ('kernel', 'memcpy')
            union all
            select *, 6, 'any' from clipped
        )
    )
select * from final;
