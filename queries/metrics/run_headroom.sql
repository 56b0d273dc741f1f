-- name: run_headroom
-- description: How much of each run's throughput is the model: its forward-only bound, the rate of its preprocessing path alone, the pipeline's own bound from the two, the fraction of that bound the run reached, and the stage that limits it.
-- inputs: runs, run_throughput
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
-- bound_img_s, the pipeline's own bound (bound_kind says which rule):
--   serial      pipeline sync or queue_depth 1: one batch in flight, its
--               stages run one after another by design, so per-image
--               times add: 1 / (1/forward + 1/prep);
--   shared_gpu  async (Q >= 2) with preprocess gpu: the decode/resize
--               kernels run on the SMs the model uses, so their GPU times
--               add too: 1 / (1/forward + 1/prep) (pessimistic where part
--               of the preprocessing runs elsewhere: CPU decode in
--               gpu-upload, nvJPEG's host-side Huffman stage);
--   overlapped  async (Q >= 2) with preprocess cpu: CPU workers and the GPU
--               are different resources, the slower stage bounds:
--               least(forward, prep).
-- bound_fraction = clean_throughput / bound_img_s (run_throughput's
-- clean_throughput, the median of the clean windows).
-- limiting_stage: 'pipeline' when the run reached less than 90 % of its
-- bound (neither stage alone explains it: the launching thread, scheduling,
-- copies), else the slower stage: 'forward', or the preprocessing path —
-- 'cpu_decode_resize' (preprocess cpu), 'gpu_decode_resize' (nvjpeg),
-- 'cpu_decode_gpu_resize' (preprocess gpu with a CPU decoder).
-- Null rates (runs collected before the workload measured them, failed
-- runs, bare exports) leave every derived column null.
create or replace view run_headroom as
with
    runs_in as (
        select batch_id, run_id, pipeline, queue_depth, preprocess, decoder, forward_bound_img_s, prep_bound_img_s
        from runs
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
            r.forward_bound_img_s,
            r.prep_bound_img_s,
            case
                when r.pipeline = 'sync' or r.queue_depth = 1 then 'serial'
                when r.preprocess = 'gpu' then 'shared_gpu'
                when r.preprocess = 'cpu' then 'overlapped'
            end as bound_kind,
            case
                when r.preprocess = 'cpu' then 'cpu_decode_resize'
                when r.decoder = 'nvjpeg' then 'gpu_decode_resize'
                when r.preprocess = 'gpu' then 'cpu_decode_gpu_resize'
            end as prep_stage
        from runs_in as r
        left join throughput as t
            on t.batch_id = r.batch_id and t.run_id = r.run_id
    ),
    bounds as (
        select
            *,
            case
                when forward_bound_img_s is null or prep_bound_img_s is null
                    or forward_bound_img_s <= 0 or prep_bound_img_s <= 0 then null
                when bound_kind = 'overlapped' then least(forward_bound_img_s, prep_bound_img_s)
                when bound_kind in ('serial', 'shared_gpu')
                    then 1 / (1 / forward_bound_img_s + 1 / prep_bound_img_s)
            end as bound_img_s
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
            clean_throughput / nullif(bound_img_s, 0) as bound_fraction,
            case
                when bound_img_s is null or clean_throughput is null then null
                when clean_throughput < 0.9 * bound_img_s then 'pipeline'
                when prep_bound_img_s < forward_bound_img_s then prep_stage
                else 'forward'
            end as limiting_stage
        from bounds
    )
select * from final;
