-- name: run_kernels
-- description: Kernels of each run that start in W: count, kernels per image, and the launch gap (kernel start minus the end of its launch API call) p50 in µs.
-- inputs: kernels, cuda_api, run_window, run_images
-- derive: per-batch
--
-- The launch call is matched on (global_pid, correlation_id); for a kernel
-- of a CUDA graph it is the graph launch, so the gap of later nodes grows
-- with their place in the graph. launch_gap_p50_us is the median over the
-- kernels with a recorded call. A kernel may start before its launch call
-- returns (a negative gap: the GPU was idle and waiting); such gaps are kept.
create or replace view run_kernels as
with
    kernels_in as (
        select batch_id, run_id, start, global_pid, correlation_id from kernels
    ),
    calls as (
        select batch_id, run_id, global_pid, correlation_id, "end" from cuda_api
    ),
    windows as (
        select * from run_window
    ),
    images as (
        select * from run_images
    ),
    in_window as (
        select k.*
        from kernels_in as k
        join windows as w
            on w.batch_id = k.batch_id and w.run_id = k.run_id
        where k.start >= w.w_start and k.start < w.w_end
    ),
    gaps as (
        select k.batch_id, k.run_id, k.start - c."end" as gap_ns
        from in_window as k
        left join calls as c
            on c.batch_id = k.batch_id and c.run_id = k.run_id
           and c.global_pid = k.global_pid and c.correlation_id = k.correlation_id
    ),
    per_run as (
        select batch_id, run_id, count(*) as kernels_in_window, median(gap_ns) / 1e3 as launch_gap_p50_us
        from gaps
        group by batch_id, run_id
    ),
    final as (
        select
            w.batch_id,
            w.run_id,
            coalesce(p.kernels_in_window, 0) as kernels_in_window,
            coalesce(p.kernels_in_window, 0) / nullif(i.images, 0) as kernels_per_image,
            p.launch_gap_p50_us
        from windows as w
        left join per_run as p
            on p.batch_id = w.batch_id and p.run_id = w.run_id
        left join images as i
            on i.batch_id = w.batch_id and i.run_id = w.run_id
    )
select * from final;
