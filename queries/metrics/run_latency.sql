-- name: run_latency
-- description: Per-batch latency (admission to the GPU end of its d2h) and per-stage host durations of the batches in W, as p50/p90/p99 in ms.
-- inputs: pipeline_batches
-- derive: per-batch
--
-- Over the batches admitted inside W (pipeline_batches.in_window).
-- Percentiles are quantile_cont (linear interpolation between order
-- statistics). Stage durations are the host durations of the batch's
-- preprocess, h2d, forward and d2h ranges.
create or replace view run_latency as
with
    batches as (
        select * from pipeline_batches
        where in_window
    ),
    final as (
        select
            batch_id,
            run_id,
            count(latency_ns) as latency_batches,
            quantile_cont(latency_ns, 0.5) / 1e6 as latency_p50_ms,
            quantile_cont(latency_ns, 0.9) / 1e6 as latency_p90_ms,
            quantile_cont(latency_ns, 0.99) / 1e6 as latency_p99_ms,
            quantile_cont(preprocess_ns, 0.5) / 1e6 as preprocess_p50_ms,
            quantile_cont(preprocess_ns, 0.9) / 1e6 as preprocess_p90_ms,
            quantile_cont(preprocess_ns, 0.99) / 1e6 as preprocess_p99_ms,
            quantile_cont(h2d_ns, 0.5) / 1e6 as h2d_p50_ms,
            quantile_cont(h2d_ns, 0.9) / 1e6 as h2d_p90_ms,
            quantile_cont(h2d_ns, 0.99) / 1e6 as h2d_p99_ms,
            quantile_cont(forward_ns, 0.5) / 1e6 as forward_p50_ms,
            quantile_cont(forward_ns, 0.9) / 1e6 as forward_p90_ms,
            quantile_cont(forward_ns, 0.99) / 1e6 as forward_p99_ms,
            quantile_cont(d2h_ns, 0.5) / 1e6 as d2h_p50_ms,
            quantile_cont(d2h_ns, 0.9) / 1e6 as d2h_p90_ms,
            quantile_cont(d2h_ns, 0.99) / 1e6 as d2h_p99_ms
        from batches
        group by batch_id, run_id
    )
select * from final;
