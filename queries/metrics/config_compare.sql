-- name: config_compare
-- description: One row per configuration with a usable run: its settings, usable runs, median images in the timed window, the median run value and run count of the metrics the claims test, and comparison keys k_* (every setting but the varied ones).
-- inputs: config_summary, usable_runs, run_metrics_v, runs_left_out
--
-- Defined here so that it is computed once per process (MaterializeMetrics
-- stores config_* views): the claims' unit files (claims/claim_c*.sql)
-- read it to find the configurations they compare. Only usable runs count
-- (status ok, not flagged: usable_runs); a flagged run is left out by
-- itself, its configuration kept through its other runs. The medians here
-- label units and order them; the intervals of a claim are computed from
-- the run values (config_stats' moments) in claims/claim_tests.sql.
--
-- Metric columns (median of run values, _n = runs with a value):
-- thr = clean_throughput (img/s), busy = gpu_busy, util =
-- seed_compute_utilisation, mem = peak_mem_bytes, h2d = h2d_link_gbps
-- (GB/s, 1e9 B), comp = compile_s. batches: how many batches the runs come
-- from; flagged_runs how many of its ok runs usable_runs leaves out (named
-- by runs_flagged, invalid by run_validity, or copies of earlier runs).
--
-- Keys: s_* is each setting as text ('-' for null); k_<varied> joins the
-- s_* of every setting except the varied one(s), so two configurations
-- with equal k_hidden differ in hidden size only. s_base is rq, GPU, dtype
-- and patch embedding (comparisons stay inside one experiment design and
-- card); decoder and cpu_workers are left out, as they follow preprocess.
create or replace view config_compare as
with
    images as (
        select u.config_id, median(m.images) as images
        from usable_runs as u
        join run_metrics_v as m
            on m.batch_id = u.batch_id and m.run_id = u.run_id
        group by u.config_id
    ),
    flagged as (
        -- ok runs of the configuration that usable_runs leaves out
        select config_id, count(distinct (batch_id, run_id)) as flagged_runs
        from runs_left_out
        group by config_id
    ),
    cfg as (
        select
            c.config_id,
            c.rq, c.gpu_name, c.dtype, c.patch_embed, c.patch, c.depth, c.hidden,
            c.resolution, c.tokens, c.batch_size, c.compile_mode, c.pipeline,
            c.queue_depth, c.preprocess, c.numa_placement,
            c.runs,
            coalesce(fl.flagged_runs, 0) as flagged_runs,
            i.images,
            c.batches,
            c.clean_throughput as thr, c.clean_throughput_n as thr_n,
            c.gpu_busy as busy, c.gpu_busy_n as busy_n,
            c.seed_compute_utilisation as util,
            c.peak_mem_bytes as mem, c.peak_mem_bytes_n as mem_n,
            c.h2d_link_gbps as h2d, c.h2d_link_gbps_n as h2d_n,
            c.compile_s as comp, c.compile_s_n as comp_n
        from config_summary as c
        left join images as i
            on i.config_id = c.config_id
        left join flagged as fl
            on fl.config_id = c.config_id
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
