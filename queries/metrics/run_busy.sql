-- name: run_busy
-- description: The interval-union metrics of each run over W: gpu_busy, compute_busy, h2d_busy, d2h_busy, copy_compute_overlap and idle (fractions in [0, 1]).
-- inputs: gpu_interval_union, run_window
-- derive: per-batch
--
-- With |X| the length of the union of set X inside W (gpu_interval_union):
--   gpu_busy             = |kernels| / |W|
--   compute_busy         = |kernels \ copies| / |W| = (|kernels| - |kernels ∩ copies|) / |W|
--                          (kernels running while no copy is in flight)
--   h2d_busy, d2h_busy   = |HtoD copies| / |W|, |DtoH copies| / |W|
--   copy_compute_overlap = |kernels ∩ copies| / |copies|, with
--                          |K ∩ C| = |K| + |C| - |K ∪ C| (null without copies)
--   idle                 = 1 - |kernels ∪ memcpys ∪ memsets| / |W|
-- A run with a W but no operation in it has busy 0 and idle 1; an empty W
-- (length 0) gives nulls.
create or replace view run_busy as
with
    unions as (
        select * from gpu_interval_union
    ),
    windows as (
        select * from run_window
    ),
    set_ns as (
        select batch_id, run_id,
               sum(new_ns) filter (where set_name = 'kernel') as kernel_ns,
               sum(new_ns) filter (where set_name = 'h2d') as h2d_ns,
               sum(new_ns) filter (where set_name = 'd2h') as d2h_ns,
               sum(new_ns) filter (where set_name = 'copy') as copy_ns,
               sum(new_ns) filter (where set_name = 'kernel_copy') as kernel_copy_ns,
               sum(new_ns) filter (where set_name = 'any') as any_ns
        from unions
        group by batch_id, run_id
    ),
    joined as (
        select
            w.batch_id,
            w.run_id,
            w.window_ns,
            coalesce(s.kernel_ns, 0) as kernel_ns,
            coalesce(s.h2d_ns, 0) as h2d_ns,
            coalesce(s.d2h_ns, 0) as d2h_ns,
            coalesce(s.copy_ns, 0) as copy_ns,
            coalesce(s.kernel_ns, 0) + coalesce(s.copy_ns, 0) - coalesce(s.kernel_copy_ns, 0) as overlap_ns,
            coalesce(s.any_ns, 0) as any_ns
        from windows as w
        left join set_ns as s
            on s.batch_id = w.batch_id and s.run_id = w.run_id
    ),
    final as (
        select
            batch_id,
            run_id,
            kernel_ns::bigint as kernel_union_ns,
            copy_ns::bigint as copy_union_ns,
            overlap_ns::bigint as overlap_ns,
            any_ns::bigint as any_union_ns,
            kernel_ns / nullif(window_ns, 0) as gpu_busy,
            (kernel_ns - overlap_ns) / nullif(window_ns, 0) as compute_busy,
            h2d_ns / nullif(window_ns, 0) as h2d_busy,
            d2h_ns / nullif(window_ns, 0) as d2h_busy,
            overlap_ns / nullif(copy_ns, 0) as copy_compute_overlap,
            1 - any_ns / nullif(window_ns, 0) as idle
        from joined
    )
select * from final;
