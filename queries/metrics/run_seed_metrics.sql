-- name: run_seed_metrics
-- description: The earlier study's metrics over each run's operations starting in W, to compare with its numbers like for like: Σ kernel durations / kernel span, 1 - Σ per-stream gaps > 1 µs / span, Σ op durations / span.
-- inputs: gpu_ops, run_window
-- derive: per-batch
--
-- Over the GPU operations (kernels, memcpys, memsets) whose start lies in W:
--   seed_compute_utilisation  = Σ kernel durations / (last kernel end - first kernel start)
--   seed_pipeline_efficiency  = 1 - Σ over streams of the gaps > 1 µs between
--                               consecutive operations of the stream / span
--   seed_temporal_compression = Σ operation durations / span
-- span = last operation end - first operation start. These are sums of
-- durations, not interval unions: with concurrent streams they can exceed
-- 1 (or the efficiency go below 0). seed_h2d_mib_s is in run_copy_rates.
create or replace view run_seed_metrics as
with
    ops as (
        select batch_id, run_id, op, stream_id, start, "end" from gpu_ops
    ),
    windows as (
        select * from run_window
    ),
    in_window as (
        select o.*
        from ops as o
        join windows as w
            on w.batch_id = o.batch_id and w.run_id = o.run_id
        where o.start >= w.w_start and o.start < w.w_end
    ),
    gaps as (
        select
            batch_id,
            run_id,
            start - lag("end") over (partition by batch_id, run_id, stream_id order by start, "end") as gap_ns
        from in_window
    ),
    stream_gaps as (
        select batch_id, run_id, sum(gap_ns) filter (where gap_ns > 1000) as gap_ns
        from gaps
        group by batch_id, run_id
    ),
    spans as (
        select
            batch_id,
            run_id,
            sum("end" - start) filter (where op = 'kernel') as kernel_sum_ns,
            max("end") filter (where op = 'kernel') - min(start) filter (where op = 'kernel') as kernel_span_ns,
            sum("end" - start) as op_sum_ns,
            max("end") - min(start) as span_ns
        from in_window
        group by batch_id, run_id
    ),
    final as (
        select
            s.batch_id,
            s.run_id,
            s.kernel_sum_ns / nullif(s.kernel_span_ns, 0) as seed_compute_utilisation,
            1 - coalesce(g.gap_ns, 0) / nullif(s.span_ns, 0) as seed_pipeline_efficiency,
            s.op_sum_ns / nullif(s.span_ns, 0) as seed_temporal_compression
        from spans as s
        left join stream_gaps as g
            on g.batch_id = s.batch_id and g.run_id = s.run_id
    )
select * from final;
