-- name: run_prefetch
-- description: Does the pipeline run ahead? For each traced run, the pairs of consecutive batches k, k+1 admitted in W, and how many of them have some preprocessing of batch k+1 overlapping the GPU forward of batch k (prefetch_fraction in [0, 1]).
-- inputs: nvtx_ranges, pipeline_batches, run_window
-- derive: per-batch
--
-- forward(k): the GPU projection [gpu_start, gpu_end] of the `forward`
-- range under `batch k` (the model's kernels on the GPU).
-- preprocessing of batch k+1, any of (collectors/workload/README.md, NVTX
-- ranges):
--   - its `preprocess_worker k+1` ranges: CPU workers converting its
--     images (host time);
--   - the GPU projections of the `preprocess` and `h2d` ranges under
--     `batch k+1` or `admit k+1`: its upload, decode and transform
--     kernels on the GPU.
-- A pair overlaps when one of those intervals [s, e] meets forward(k):
-- s < forward_end and e > forward_start. A sync pipeline prepares batch
-- k+1 only after batch k retired, so its fraction is 0 by construction; an
-- async pipeline with Q >= 2 that runs ahead has fractions near 1 unless
-- the preprocessing of k+1 ends before forward k starts (queue primed far
-- ahead, the GPU the bottleneck) — read it with gpu_busy.
-- Columns: batch_id, run_id, prefetch_pairs (pairs k, k+1 both admitted in
-- W), prefetch_overlaps, prefetch_fraction (null without pairs).
create or replace view run_prefetch as
with
    ranges as (
        select batch_id, run_id, range_id, parent_id, name, start, end_filled, gpu_start, gpu_end
        from nvtx_ranges
        where regexp_matches(name, '^(batch|admit|preprocess_worker) [0-9]+$')
           or name in ('preprocess', 'h2d', 'forward')
    ),
    owners as (
        select batch_id, run_id, range_id,
               cast(regexp_extract(name, '[0-9]+$') as integer) as batch_index
        from ranges
        where regexp_matches(name, '^(batch|admit) [0-9]+$')
    ),
    stages as (
        select c.batch_id, c.run_id, o.batch_index, c.name, c.gpu_start, c.gpu_end
        from ranges as c
        join owners as o
            on o.batch_id = c.batch_id and o.run_id = c.run_id and o.range_id = c.parent_id
        where c.name in ('preprocess', 'h2d', 'forward')
            and c.gpu_start is not null
    ),
    forwards as (
        select batch_id, run_id, batch_index,
               min(gpu_start) as forward_start, max(gpu_end) as forward_end
        from stages
        where name = 'forward'
        group by batch_id, run_id, batch_index
    ),
    prep as (
        select batch_id, run_id, batch_index, gpu_start as s, gpu_end as e
        from stages
        where name in ('preprocess', 'h2d')
        union all
        select batch_id, run_id, cast(regexp_extract(name, '[0-9]+$') as integer), start, end_filled
        from ranges
        where name like 'preprocess_worker %'
    ),
    pairs as (
        select k.batch_id, k.run_id, k.batch_index
        from pipeline_batches as k
        join pipeline_batches as n
            on n.batch_id = k.batch_id and n.run_id = k.run_id and n.batch_index = k.batch_index + 1
        where k.in_window and n.in_window
    ),
    hits as (
        select
            p.batch_id, p.run_id, p.batch_index,
            coalesce(bool_or(x.s < f.forward_end and x.e > f.forward_start), false) as overlaps
        from pairs as p
        left join forwards as f
            on f.batch_id = p.batch_id and f.run_id = p.run_id and f.batch_index = p.batch_index
        left join prep as x
            on x.batch_id = p.batch_id and x.run_id = p.run_id and x.batch_index = p.batch_index + 1
        group by p.batch_id, p.run_id, p.batch_index
    ),
    final as (
        select
            w.batch_id,
            w.run_id,
            count(h.batch_index) as prefetch_pairs,
            count(h.batch_index) filter (where h.overlaps) as prefetch_overlaps,
            count(h.batch_index) filter (where h.overlaps) / nullif(count(h.batch_index), 0) as prefetch_fraction
        from run_window as w
        left join hits as h
            on h.batch_id = w.batch_id and h.run_id = w.run_id
        group by w.batch_id, w.run_id
    )
select * from final;
