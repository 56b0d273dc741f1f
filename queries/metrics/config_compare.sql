-- name: config_compare
-- description: One row per configuration the claims may compare: none of its runs flagged by runs_flagged, with its settings, usable runs, median images in the timed window, the median, 95 % interval and repeats of the metrics the claims test, and comparison keys k_* (every setting but the varied ones).
-- inputs: config_summary, run_config, runs_flagged, usable_runs, run_metrics_v
--
-- Defined here rather than inside queries/claims.sql so that it is computed
-- once per process (MaterializeMetrics stores config_* views) and planned
-- once: the claims read it twenty times. Intervals are those of
-- config_summary (config_stats' method) whatever the number of repeats; the
-- claims decide which are too few (param claims_min_repeats).
--
-- A configuration is left out as a whole when any of its runs is flagged:
-- config_stats aggregates every usable repeat, so a flagged run cannot be
-- taken out of its numbers, and a configuration half of whose runs
-- contradict their settings is not one configuration.
--
-- Metric columns: thr = clean_throughput (img/s), busy = gpu_busy,
-- util = seed_compute_utilisation, mem = peak_mem_bytes,
-- h2d = h2d_link_gbps (GB/s, 1e9 B), comp = compile_s; each with _lo, _hi
-- (its 95 % interval) and _n (repeats), util without.
--
-- Keys: s_* is each setting as text ('-' for null); k_<varied> joins the
-- s_* of every setting except the varied one(s), so two configurations
-- with equal k_hidden differ in hidden size only. s_base is rq, GPU, dtype
-- and patch embedding (comparisons stay inside one experiment design and
-- card); decoder and cpu_workers are left out, as they follow preprocess.
create or replace view config_compare as
with
    flagged_configs as (
        select distinct r.config_id
        from run_config as r
        join runs_flagged as f
            on f.batch_id = r.batch_id and f.run_id = r.run_id
    ),
    images as (
        select u.config_id, median(m.images) as images
        from usable_runs as u
        join run_metrics_v as m
            on m.batch_id = u.batch_id and m.run_id = u.run_id
        group by u.config_id
    ),
    cfg as (
        select
            c.config_id,
            c.rq, c.gpu_name, c.dtype, c.patch_embed, c.patch, c.depth, c.hidden,
            c.resolution, c.tokens, c.batch_size, c.compile_mode, c.pipeline,
            c.queue_depth, c.preprocess, c.numa_placement,
            c.runs,
            i.images,
            c.clean_throughput as thr, c.clean_throughput_lo as thr_lo,
            c.clean_throughput_hi as thr_hi, c.clean_throughput_n as thr_n,
            c.gpu_busy as busy, c.gpu_busy_lo as busy_lo, c.gpu_busy_hi as busy_hi, c.gpu_busy_n as busy_n,
            c.seed_compute_utilisation as util,
            c.peak_mem_bytes as mem, c.peak_mem_bytes_lo as mem_lo,
            c.peak_mem_bytes_hi as mem_hi, c.peak_mem_bytes_n as mem_n,
            c.h2d_link_gbps as h2d, c.h2d_link_gbps_lo as h2d_lo,
            c.h2d_link_gbps_hi as h2d_hi, c.h2d_link_gbps_n as h2d_n,
            c.compile_s as comp, c.compile_s_lo as comp_lo,
            c.compile_s_hi as comp_hi, c.compile_s_n as comp_n
        from config_summary as c
        left join images as i
            on i.config_id = c.config_id
        where c.config_id not in (select config_id from flagged_configs)
    ),
    parts as (
        select
            *,
            concat_ws('|', coalesce(rq, '-'), coalesce(gpu_name, '-'), coalesce(dtype, '-'), coalesce(patch_embed, '-')) as s_base,
            coalesce(cast(patch as varchar), '-') as s_patch,
            coalesce(cast(depth as varchar), '-') as s_depth,
            coalesce(cast(hidden as varchar), '-') as s_hidden,
            coalesce(cast(resolution as varchar), '-') as s_res,
            coalesce(cast(batch_size as varchar), '-') as s_bs,
            coalesce(compile_mode, '-') as s_mode,
            coalesce(pipeline, '-') as s_pipe,
            coalesce(cast(queue_depth as varchar), '-') as s_q,
            coalesce(preprocess, '-') as s_pre,
            coalesce(numa_placement, '-') as s_numa
        from cfg
    ),
    final as (
        select
            *,
            concat_ws('|', s_base, s_patch, s_depth, s_res, s_bs, s_mode, s_pipe, s_q, s_pre, s_numa) as k_hidden,
            concat_ws('|', s_base, s_depth, s_hidden, s_res, s_bs, s_mode, s_pipe, s_q, s_pre, s_numa) as k_patch,
            concat_ws('|', s_base, s_patch, s_hidden, s_res, s_bs, s_mode, s_pipe, s_q, s_pre, s_numa) as k_depth,
            concat_ws('|', s_base, s_patch, s_depth, s_hidden, s_mode, s_pipe, s_q, s_pre, s_numa) as k_res_bs,
            concat_ws('|', s_base, s_depth, s_hidden, s_mode, s_pipe, s_q, s_pre, s_numa) as k_patch_res_bs,
            concat_ws('|', s_base, s_patch, s_depth, s_hidden, s_res, s_bs, s_pipe, s_q, s_pre, s_numa) as k_mode,
            concat_ws('|', s_base, s_patch, s_depth, s_hidden, s_res, s_bs, s_mode, s_pipe, s_q, s_pre) as k_numa,
            concat_ws('|', s_base, s_patch, s_depth, s_hidden, s_res, s_mode, s_pipe, s_q, s_pre) as k_numa_bs,
            concat_ws('|', s_base, s_patch, s_depth, s_hidden, s_res, s_bs, s_mode, s_pre, s_numa) as k_pipe_q,
            concat_ws('|', s_base, s_patch, s_depth, s_hidden, s_res, s_bs, s_mode, s_pipe, s_pre, s_numa) as k_q,
            concat_ws('|', s_base, s_patch, s_depth, s_hidden, s_res, s_bs, s_mode, s_pipe, s_q, s_numa) as k_pre
        from parts
    )
select * from final
order by config_id;
