-- name: rq2_resolution
-- description: RQ2: untraced throughput, token rate, per-batch latency p50/p99 and peak GPU memory against input resolution and token count (median run and 95 % interval over runs).
-- inputs: run_config, config_summary, config_headroom
-- rq: rq2
-- chart: line x=tokens y=clean_throughput series=model logx logy title=Untraced throughput (img/s) against tokens per image
-- chart: line x=tokens y=token_rate_m series=model logx title=Token rate (million tokens/s) against tokens per image: flat means cost grows linearly in tokens
-- chart: line x=tokens y=latency_p99_ms series=model logx logy title=Per-batch latency p99 (ms) against tokens per image
-- chart: line x=tokens y=peak_mem_mib series=model logx title=Peak GPU memory of a run (MiB) against tokens per image (see tokens_per_batch)
-- chart: line x=tokens y=bound_fraction series=model logx title=Fraction of the run's ceiling reached (the slower of its forward-only and preprocessing-only rates) against tokens per image
--
-- One row per configuration of the rq2 plan (a run_config row with
-- rq = 'rq2'), ordered by GPU, model, resolution, batch size.
-- Columns:
--   config_id, gpu_name, model ('p<patch> d<depth> h<hidden>': the chart
--   series), patch, depth, hidden, resolution, tokens ((resolution/patch)^2,
--   no class token), pixels (resolution^2), batch_size, tokens_per_batch
--   (tokens x batch size: plans often shrink the batch as resolution grows
--   to keep it constant, so compare memory per image, not per run);
--   clean_throughput, clean_throughput_lo, clean_throughput_hi, clean_throughput_n
--     untraced img/s (median run, 95 % t interval over runs; null with one run);
--   token_rate_m   clean_throughput x tokens / 1e6 (and _lo, _hi): the
--     claim C6 quantity;
--   latency_p50_ms, latency_p50_lo, latency_p50_hi, latency_p99_ms,
--     latency_p99_lo, latency_p99_hi   per-batch latency in the traced
--     window (a batch, not an image: batch sizes differ between rows);
--   peak_mem_mib, peak_mem_mib_lo, peak_mem_mib_hi   peak GPU memory
--     allocated by PyTorch (MiB = 2^20 B), weights included;
--   peak_mem_per_image_mib   peak_mem_mib / batch_size.

-- forward_bound_img_s, prep_bound_img_s, bound_img_s, bound_fraction,
--   limiting_stage   how much of the throughput is the model
--     (metrics/config_headroom.sql, from metrics/run_headroom.sql): the
--     forward-only bound (same model, batch, resolution and compile mode,
--     input already on the GPU), the preprocessing path's rate alone, the
--     pipeline's ceiling least(forward, prep), clean_throughput / that ceiling,
--     and the stage that limits it; null for runs collected before the
--     workload measured them.
with

configs as (
    select distinct config_id from run_config
    where rq = 'rq2'
),

summary as (
    select * from config_summary
    where config_id in (select config_id from configs)
),

final as (
    select
        config_id,
        gpu_name,
        'p' || patch || ' d' || depth || ' h' || hidden as model,
        patch,
        depth,
        hidden,
        resolution,
        tokens,
        resolution * resolution as pixels,
        batch_size,
        tokens * batch_size as tokens_per_batch,
        round(clean_throughput, 1) as clean_throughput,
        round(clean_throughput_lo, 1) as clean_throughput_lo,
        round(clean_throughput_hi, 1) as clean_throughput_hi,
        clean_throughput_n,
        round(clean_throughput * tokens / 1e6, 3) as token_rate_m,
        round(clean_throughput_lo * tokens / 1e6, 3) as token_rate_m_lo,
        round(clean_throughput_hi * tokens / 1e6, 3) as token_rate_m_hi,
        round(latency_p50_ms, 3) as latency_p50_ms,
        round(latency_p50_ms_lo, 3) as latency_p50_lo,
        round(latency_p50_ms_hi, 3) as latency_p50_hi,
        round(latency_p99_ms, 3) as latency_p99_ms,
        round(latency_p99_ms_lo, 3) as latency_p99_lo,
        round(latency_p99_ms_hi, 3) as latency_p99_hi,
        round(peak_mem_bytes / 1048576, 1) as peak_mem_mib,
        round(peak_mem_bytes_lo / 1048576, 1) as peak_mem_mib_lo,
        round(peak_mem_bytes_hi / 1048576, 1) as peak_mem_mib_hi,
        round(peak_mem_bytes / 1048576 / nullif(batch_size, 0), 2) as peak_mem_per_image_mib,
        round(h.forward_bound_img_s, 1) as forward_bound_img_s,
        round(h.prep_bound_img_s, 1) as prep_bound_img_s,
        round(h.bound_img_s, 1) as bound_img_s,
        round(h.bound_fraction, 3) as bound_fraction,
        h.limiting_stage
    from summary
    left join config_headroom as h using (config_id)
    order by gpu_name, patch, depth, hidden, resolution, batch_size, config_id
)

select * from final
