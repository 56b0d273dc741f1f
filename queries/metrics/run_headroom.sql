-- name: run_headroom
-- description: How much of each run's throughput is the model: its forward-only bound, the rate of its preprocessing path alone, the pipeline's own bound from the two, the fraction of that bound the run reached, and the stage that limits it.
-- inputs: runs, run_throughput, clean_windows
-- derive: per-batch
--
-- The workload measures two rates in every run's clean phase, right after
-- its clean windows, in the same process (collectors/workload/README.md,
-- Headroom; run.json timings, runs.forward_bound_img_s and
-- runs.prep_bound_img_s):
--   forward_bound_img_s: the model alone, input already on the GPU
--     (same model, compile mode, batch and resolution; back-to-back
--     forwards, no copies);
--   prep_bound_img_s: the run's preprocessing path alone (its CPU worker
--     processes, buffers, uploads and GPU transforms, or its nvJPEG decode
--     and GPU transforms), two or more batches in flight, no model.
-- bound_img_s, the pipeline's ceiling: least(forward, prep). No design
-- runs faster than its slower stage measured alone; an async pipeline
-- (Q >= 2) can reach it by preprocessing batch k+1 while batch k runs its
-- forward. serial_img_s = 1 / (1/forward + 1/prep) is the rate if the two
-- stages' times simply added (no overlap at all): the expectation for a
-- design with one batch in flight (bound_kind 'serial': pipeline sync or
-- queue_depth 1; 'overlapped' otherwise, the DataLoader peer included), but no bound. Neither the sum nor
-- a sum of GPU times is a ceiling: on an H100 (2026-12-07, ViT-B/16 b32,
-- nvJPEG) async q2 and q8 reached 9,135 and 9,435 img/s where the sum gave
-- 7,218 and 6,961 (part of nvJPEG's work runs off the SMs: the hardware JPEG
-- decoder, the host-side Huffman stage, copy engines), and sync runs of rq2
-- reached up to 1.14 times their sum (the host's share of preprocessing
-- overlaps the GPU's work of the same batch).
-- bound_fraction = clean_throughput / bound_img_s (run_throughput's
-- clean_throughput, the median of the clean windows).
-- in_flight: the batches the design lets be in flight at once, each from
-- its admission (preprocessing included) to the completion of its D2H
-- copy: 1 for sync, queue_depth for async; null for the DataLoader peer
-- (its latency starts after the DataLoader, so it covers no preprocessing).
-- in_flight_occupancy: Little's law (L = lambda W) per clean window,
-- throughput x latency_p50 / (in_flight x batch_size), the median over the
-- run's windows: the share of the in-flight slots occupied on average.
-- Near 1, every slot is always busy and the rate is in_flight x batch /
-- per-batch latency: the run is held by how many batches it may have in
-- flight, not by a stage's rate (more depth, or a shorter per-batch
-- latency, would lift it). The median latency stands for the mean
-- (the workload records percentiles only); latencies skew right, so the
-- occupancy is if anything underestimated. Null without windows'
-- latencies (batches before schema 3, traced-only runs).
-- limiting_stage: when the run reached less than 90 % of its ceiling,
-- 'batches_in_flight' if in_flight_occupancy >= 0.9 (see above), else
-- 'pipeline' (neither stage alone nor the depth explains it: the launching
-- thread, scheduling, copies); at >= 90 % the slower stage: 'forward', or
-- the preprocessing path — 'cpu_decode_resize' (preprocess cpu),
-- 'gpu_decode_resize' (nvjpeg), 'cpu_decode_gpu_resize' (preprocess gpu
-- with a CPU decoder).
-- Null rates (runs collected before the workload measured them, failed
-- runs, bare exports) leave every derived column null.
create or replace view run_headroom as
with
    runs_in as (
        select batch_id, run_id, pipeline, queue_depth, batch_size, preprocess, decoder, forward_bound_img_s, prep_bound_img_s,
            case when pipeline = 'sync' then 1 when pipeline = 'async' then queue_depth end as in_flight
        from runs
    ),
    occupancy as (
        -- Little's law per clean window, then the run's median
        select w.batch_id, w.run_id,
               median(w.throughput * w.latency_p50_ms / 1000 / (r.in_flight * r.batch_size))
                   as in_flight_occupancy
        from clean_windows as w
        join runs_in as r
            on r.batch_id = w.batch_id and r.run_id = w.run_id
        where r.in_flight > 0 and r.batch_size > 0
            and w.throughput > 0 and w.latency_p50_ms > 0
        group by w.batch_id, w.run_id
    ),
    throughput as (
        select batch_id, run_id, clean_throughput from run_throughput
    ),
    rates as (
        select
            r.batch_id,
            r.run_id,
            r.pipeline,
            r.queue_depth,
            r.preprocess,
            r.decoder,
            t.clean_throughput,
            r.in_flight,
            o.in_flight_occupancy,
            r.forward_bound_img_s,
            r.prep_bound_img_s,
            case
                when r.pipeline = 'sync' or r.queue_depth = 1 then 'serial'
                when r.pipeline in ('async', 'peer') then 'overlapped'
            end as bound_kind,
            case
                when r.preprocess = 'cpu' then 'cpu_decode_resize'
                when r.decoder = 'nvjpeg' then 'gpu_decode_resize'
                when r.preprocess = 'gpu' then 'cpu_decode_gpu_resize'
            end as prep_stage
        from runs_in as r
        left join throughput as t
            on t.batch_id = r.batch_id and t.run_id = r.run_id
        left join occupancy as o
            on o.batch_id = r.batch_id and o.run_id = r.run_id
    ),
    bounds as (
        select
            *,
            case
                when forward_bound_img_s is null or prep_bound_img_s is null
                    or forward_bound_img_s <= 0 or prep_bound_img_s <= 0 then null
                else least(forward_bound_img_s, prep_bound_img_s)
            end as bound_img_s,
            case
                when forward_bound_img_s > 0 and prep_bound_img_s > 0
                    then 1 / (1 / forward_bound_img_s + 1 / prep_bound_img_s)
            end as serial_img_s
        from rates
    ),
    final as (
        select
            batch_id,
            run_id,
            clean_throughput,
            forward_bound_img_s,
            prep_bound_img_s,
            bound_kind,
            bound_img_s,
            serial_img_s,
            clean_throughput / nullif(bound_img_s, 0) as bound_fraction,
            in_flight,
            in_flight_occupancy,
            case
                when bound_img_s is null or clean_throughput is null then null
                when clean_throughput < 0.9 * bound_img_s and in_flight_occupancy >= 0.9 then 'batches_in_flight'
                when clean_throughput < 0.9 * bound_img_s then 'pipeline'
                when prep_bound_img_s < forward_bound_img_s then prep_stage
                else 'forward'
            end as limiting_stage
        from bounds
    )
select * from final;
