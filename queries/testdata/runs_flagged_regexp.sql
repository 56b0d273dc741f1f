-- name: runs_flagged
-- description: Runs whose trace contradicts their recorded settings, one row per (run, check) with what was expected and seen; claims leave these runs out.
-- inputs: runs, run_window, pipeline_batches, memcpys, kernels, cuda_api
-- derive: per-batch
--
-- Checks, over the batches and operations inside W (ok runs with a `timed`
-- window only):
--   h2d_bytes_per_batch  HtoD bytes per batch = batch × 3 × S² × bytes per
--                        element: CPU preprocessing uploads the resized
--                        images at S = resolution, as uint8 (1 B: the
--                        workload since 2026-12-07, which normalises and
--                        casts on the GPU) or as the model input (bf16/fp16:
--                        2 B, fp32: 4 B: the thread-based workload of the
--                        earlier batches); GPU preprocessing uploads the
--                        decoded uint8 source (S = source_resolution, 1 B).
--                        Skipped for the nvjpeg decoder (it uploads JPEG
--                        bytes). Allowed slack 1 %.
--   attention_per_depth  fused attention kernels (names with sdpa, flash,
--                        fmha or attention) per batch = depth × k for a
--                        whole k ≥ 1 (one or more kernels per block); a
--                        model with fewer or more blocks than recorded
--                        gives a fraction. Skipped when the run has no
--                        attention kernel of those names (unfused attention).
--   graph_launches       cudaGraphLaunch / cuGraphLaunch calls happen if and
--                        only if compile_mode is a CUDA-graph mode
--                        (reduce-overhead, max-autotune).
--   triton_kernels       kernels named triton_* only in compiled modes (not eager).
--   streams              more than one stream (kernels, copies and memsets
--                        not replayed from a CUDA graph) only in the async
--                        pipeline; graph replays run on their own stream and
--                        are left out (seen in the sample's graph-mode runs),
--                        and so are nvjpeg's own decode streams (streams with
--                        only decode kernels and uploads, decoder nvjpeg).
-- Thresholds were checked against the shipped sample (data/sample), where no
-- run is flagged.
create or replace view runs_flagged as
with
    runs_in as (
        select * from runs
        where status = 'ok'
    ),
    windows as (
        select * from run_window
    ),
    batches as (
        select batch_id, run_id, count(*) as batches
        from pipeline_batches
        where in_window
        group by batch_id, run_id
    ),
    copies as (
        select m.batch_id, m.run_id, sum(m.bytes) as h2d_bytes
        from memcpys as m
        join windows as w
            on w.batch_id = m.batch_id and w.run_id = m.run_id
        where m.kind = 'HtoD' and m.start >= w.w_start and m.start < w.w_end
        group by m.batch_id, m.run_id
    ),
    kernel_counts as (
        select
            k.batch_id,
            k.run_id,
            count(*) filter (where regexp_matches(lower(k.short_name), 'sdpa|flash|fmha|attention')) as attention_kernels,
            count(*) filter (where lower(k.short_name) like 'triton%') as triton_kernels
        from kernels as k
        join windows as w
            on w.batch_id = k.batch_id and w.run_id = k.run_id
        where k.start >= w.w_start and k.start < w.w_end
        group by k.batch_id, k.run_id
    ),
    stream_ops as (
        select
            o.batch_id, o.run_id, o.stream_id,
            bool_and(o.decoder_op) as decoder_only
        from (
            select batch_id, run_id, stream_id, start, graph_node_id,
                regexp_matches(lower(short_name), 'rgba2rgb|nvjpeg|jpeg|idct|huffman') as decoder_op
            from kernels
            union all
            select batch_id, run_id, stream_id, start, graph_node_id, kind = 'HtoD' as decoder_op from memcpys
            union all
            select batch_id, run_id, stream_id, start, graph_node_id, false as decoder_op from memsets
        ) as o
        join windows as w
            on w.batch_id = o.batch_id and w.run_id = o.run_id
        where o.start >= w.w_start and o.start < w.w_end and o.graph_node_id is null
        group by o.batch_id, o.run_id, o.stream_id
    ),
    streams as (
        select s.batch_id, s.run_id, count(*) as streams
        from stream_ops as s
        join runs_in as r
            on r.batch_id = s.batch_id and r.run_id = s.run_id
        -- nvjpeg's batched decode (torchvision.io.decode_jpeg on the GPU)
        -- runs on streams of its own (14 on the H200 sample: a JPEG upload
        -- and an rgba2rgb kernel per image): those are the decoder's, not
        -- the pipeline's.
        where not (coalesce(r.decoder, '') = 'nvjpeg' and s.decoder_only)
        group by s.batch_id, s.run_id
    ),
    graph_calls as (
        select batch_id, run_id, count(*) as graph_launches
        from cuda_api
        where regexp_matches(name, '^cu(da)?GraphLaunch')
        group by batch_id, run_id
    ),
    facts as (
        select
            r.batch_id,
            r.run_id,
            r.batch_size,
            r.depth,
            r.compile_mode,
            r.pipeline,
            r.preprocess,
            r.decoder,
            case when r.preprocess = 'gpu' then r.source_resolution else r.resolution end as upload_side,
            case
                when r.preprocess = 'gpu' then 1
                when r.dtype in ('float32', 'fp32') then 4
                else 2
            end as upload_bytes_per_element,
            b.batches,
            c.h2d_bytes,
            coalesce(k.attention_kernels, 0) as attention_kernels,
            coalesce(k.triton_kernels, 0) as triton_kernels,
            coalesce(s.streams, 0) as streams,
            coalesce(g.graph_launches, 0) as graph_launches
        from runs_in as r
        join windows as w
            on w.batch_id = r.batch_id and w.run_id = r.run_id
        left join batches as b
            on b.batch_id = r.batch_id and b.run_id = r.run_id
        left join copies as c
            on c.batch_id = r.batch_id and c.run_id = r.run_id
        left join kernel_counts as k
            on k.batch_id = r.batch_id and k.run_id = r.run_id
        left join streams as s
            on s.batch_id = r.batch_id and s.run_id = r.run_id
        left join graph_calls as g
            on g.batch_id = r.batch_id and g.run_id = r.run_id
    ),
    checked as (
        select
            batch_id, run_id, 'h2d_bytes_per_batch' as "check",
            'expected ' || case when preprocess = 'cpu' then (batch_size * 3 * upload_side * upload_side) || ' or ' else '' end
                || (batch_size * 3 * upload_side * upload_side * upload_bytes_per_element)
                || ' B per batch (' || batch_size || ' × 3 × ' || upload_side || '² × '
                || case when preprocess = 'cpu' then '1 or ' else '' end || upload_bytes_per_element
                || ' B, ' || preprocess || ' preprocessing), traced ' || round(h2d_bytes / batches) as detail
        from facts
        where batches > 0 and h2d_bytes is not null and coalesce(decoder, '') <> 'nvjpeg'
          and batch_size is not null and upload_side is not null
          and abs(h2d_bytes / batches / (batch_size * 3.0 * upload_side * upload_side * upload_bytes_per_element) - 1) > 0.01
          and (preprocess is distinct from 'cpu'
               or abs(h2d_bytes / batches / (batch_size * 3.0 * upload_side * upload_side) - 1) > 0.01)
        union all
        select
            batch_id, run_id, 'attention_per_depth',
            'depth ' || depth || ', traced ' || round(attention_kernels / batches, 2) || ' attention kernels per batch ('
                || round(attention_kernels / batches / depth, 2) || ' per block)'
        from facts
        where attention_kernels > 0 and batches > 0 and depth > 0
          and (round(attention_kernels / batches / depth) < 1
               or abs(attention_kernels / batches / depth - round(attention_kernels / batches / depth)) > 0.1)
        union all
        select
            batch_id, run_id, 'graph_launches',
            'compile_mode ' || compile_mode || ', traced ' || graph_launches || ' CUDA graph launches'
        from facts
        where (graph_launches > 0) <> (compile_mode in ('reduce-overhead', 'max-autotune'))
        union all
        select
            batch_id, run_id, 'triton_kernels',
            'compile_mode ' || compile_mode || ', traced ' || triton_kernels || ' Triton kernels in W'
        from facts
        where triton_kernels > 0 and compile_mode = 'eager'
        union all
        select
            batch_id, run_id, 'streams',
            'pipeline ' || pipeline || ', traced ' || streams || ' streams in W'
        from facts
        where streams > 1 and pipeline = 'sync'
    ),
    final as (
        select * from checked
        order by batch_id, run_id, "check"
    )
select * from final;
