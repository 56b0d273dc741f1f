-- name: pipeline_batches
-- description: One row per pipeline batch of a traced run: its index, admission, stage ranges and the GPU end of its d2h, and whether it lies in W.
-- inputs: nvtx_ranges, run_window
--
-- NVTX names (collectors/workload/README.md): per batch `batch N` with the
-- children `preprocess`, `h2d`, `forward`, `d2h`; the async pipeline also
-- opens `admit N` when the batch takes a queue slot (and `retire N`).
-- Admission is the start of `admit N` where there is one (async), else the
-- start of `batch N` (sync). done_ns is the GPU end of the batch's `d2h`
-- (its projection, nvtx.gpu_end), the moment its result is on the host side
-- of the copy; latency_ns = done_ns - admit_ns. Stage durations are host
-- durations of the child ranges. in_window: admission inside W.
create or replace view pipeline_batches as
with
    ranges as (
        select * from nvtx_ranges
        where regexp_matches(name, '^(batch|admit) [0-9]+$')
           or name in ('preprocess', 'h2d', 'forward', 'd2h')
    ),
    windows as (
        select * from run_window
    ),
    batches as (
        select batch_id, run_id, range_id, start, end_filled,
               cast(regexp_extract(name, '[0-9]+$') as integer) as batch_index
        from ranges
        where name like 'batch %'
    ),
    admits as (
        select batch_id, run_id, cast(regexp_extract(name, '[0-9]+$') as integer) as batch_index,
               min(start) as admit_start
        from ranges
        where name like 'admit %'
        group by all
    ),
    stages as (
        select
            batch_id, run_id, parent_id,
            max(end_filled - start) filter (where name = 'preprocess') as preprocess_ns,
            max(end_filled - start) filter (where name = 'h2d') as h2d_ns,
            max(end_filled - start) filter (where name = 'forward') as forward_ns,
            max(end_filled - start) filter (where name = 'd2h') as d2h_ns,
            max(gpu_end) filter (where name = 'd2h') as d2h_gpu_end
        from ranges
        where name in ('preprocess', 'h2d', 'forward', 'd2h')
        group by batch_id, run_id, parent_id
    ),
    final as (
        select
            b.batch_id,
            b.run_id,
            b.batch_index,
            coalesce(a.admit_start, b.start) as admit_ns,
            b.start as batch_start,
            b.end_filled as batch_end,
            s.d2h_gpu_end as done_ns,
            s.d2h_gpu_end - coalesce(a.admit_start, b.start) as latency_ns,
            s.preprocess_ns,
            s.h2d_ns,
            s.forward_ns,
            s.d2h_ns,
            coalesce(coalesce(a.admit_start, b.start) >= w.w_start and coalesce(a.admit_start, b.start) < w.w_end, false) as in_window
        from batches as b
        left join admits as a
            on a.batch_id = b.batch_id and a.run_id = b.run_id and a.batch_index = b.batch_index
        left join stages as s
            on s.batch_id = b.batch_id and s.run_id = b.run_id and s.parent_id = b.range_id
        left join windows as w
            on w.batch_id = b.batch_id and w.run_id = b.run_id
    )
select * from final;
