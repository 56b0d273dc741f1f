-- name: rq3_compile
-- description: RQ3: untraced speedup of each torch.compile mode over eager for the same model, batch and pipeline, compile time, and the break-even image count.
-- inputs: run_config, config_summary, config_stats
-- rq: rq3
-- chart: bar x=compile_mode y=speedup series=model title=Untraced speedup over eager (same model, batch size and pipeline)
-- chart: bar x=compile_mode y=compile_s series=model logy title=Compile time (s): the first, compiling call
--
-- One row per configuration of the rq3 plan (a run_config row with
-- rq = 'rq3'), eager included as the baseline, ordered by GPU, model,
-- batch size, then eager, default, reduce-overhead, max-autotune.
-- Its eager baseline is the eager configuration with the same GPU, model
-- (patch, depth, hidden), resolution, batch size, dtype, pipeline, queue
-- depth and preprocessing, preferring one of the same rq; none -> the
-- speedup columns are null and baseline says so.
-- Columns:
--   config_id, gpu_name, model ('p<patch> d<depth> h<hidden>'), patch,
--   depth, hidden, resolution, batch_size, pipeline, compile_mode;
--   clean_throughput, clean_throughput_lo, clean_throughput_hi,
--   clean_throughput_n   untraced img/s (median run, 95 % t interval over
--     runs, runs: config_summary);
--   eager_throughput, eager_throughput_lo, eager_throughput_hi  the same for
--     the baseline;
--   speedup = clean_throughput / eager_throughput (medians of runs);
--     speedup_lo, speedup_hi: its 95 % interval over both sides' runs
--     (Welch's t on log run values, ratio_ci in views/05_stats.sql;
--     null when a side has fewer than 2 runs); exactly 1 for the eager
--     baseline itself; speedup_method names the level and method;
--   compile_s, compile_s_lo, compile_s_hi   time of the first (compiling)
--     call, s (0 for eager);
--   saving_us_per_image = (1 / eager - 1 / clean_throughput) x 1e6: GPU
--     pipeline time saved per image, us (negative: compiled is slower);
--   break_even_images = compile_s / saving per image, rounded up: images to
--     process before compiling pays for itself; null when there is no
--     saving or for eager;
--   break_even   text: the count, 'never (no per-image saving)',
--     'baseline' for eager, 'no eager baseline', or 'no data'.

with

runs as (
    select * from run_config
),

configs as (
    select config_id, any_value(rq) as rq
    from runs
    where rq = 'rq3'
    group by config_id
),

config_rq as (
    select config_id, min(rq) as rq
    from runs
    group by config_id
),

summary as (
    select s.*, r.rq
    from config_summary as s
    left join config_rq as r
        on r.config_id = s.config_id
),

rq3 as (
    select * from summary
    where config_id in (select config_id from configs)
),

eager as (
    select * from summary
    where compile_mode = 'eager'
),

paired as (
    select
        c.*,
        e.config_id as eager_config_id,
        e.clean_throughput as eager_throughput,
        e.clean_throughput_lo as eager_throughput_lo,
        e.clean_throughput_hi as eager_throughput_hi
    from rq3 as c
    left join eager as e
        on  e.gpu_name is not distinct from c.gpu_name
        and e.patch is not distinct from c.patch
        and e.depth is not distinct from c.depth
        and e.hidden is not distinct from c.hidden
        and e.resolution is not distinct from c.resolution
        and e.batch_size is not distinct from c.batch_size
        and e.dtype is not distinct from c.dtype
        and e.pipeline is not distinct from c.pipeline
        and e.queue_depth is not distinct from c.queue_depth
        and e.preprocess is not distinct from c.preprocess
    qualify row_number() over (
        partition by c.config_id
        order by (e.rq is not distinct from c.rq) desc, e.config_id
    ) = 1
),

stats as (
    select * from config_stats
),

-- the speedup's interval over both sides' runs
speedup_pairs as (
    select config_id as a, eager_config_id as b, 'clean_throughput' as metric
    from paired
    where eager_config_id is not null and config_id <> eager_config_id
),

speedup_ci as (
    select * from ratio_ci('speedup_pairs', 'stats', 0.95)
),

measured as (
    select
        p.*,
        p.clean_throughput / nullif(p.eager_throughput, 0) as speedup,
        case when p.config_id = p.eager_config_id then 1.0 else c.ratio_lo end as speedup_lo,
        case when p.config_id = p.eager_config_id then 1.0 else c.ratio_hi end as speedup_hi,
        case
            when p.config_id = p.eager_config_id then 'baseline'
            when p.eager_config_id is null then 'no eager baseline'
            when c.ratio_lo is null then 'no interval (fewer than 2 runs on a side)'
            else '95 % Welch t on log run values'
        end as speedup_method,
        (1 / nullif(p.eager_throughput, 0) - 1 / nullif(p.clean_throughput, 0)) as saving_s_per_image
    from paired as p
    left join speedup_ci as c
        on c.a = p.config_id and c.b = p.eager_config_id
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
        batch_size,
        pipeline,
        compile_mode,
        round(clean_throughput, 1) as clean_throughput,
        round(clean_throughput_lo, 1) as clean_throughput_lo,
        round(clean_throughput_hi, 1) as clean_throughput_hi,
        clean_throughput_n,
        round(eager_throughput, 1) as eager_throughput,
        round(eager_throughput_lo, 1) as eager_throughput_lo,
        round(eager_throughput_hi, 1) as eager_throughput_hi,
        round(speedup, 3) as speedup,
        round(speedup_lo, 3) as speedup_lo,
        round(speedup_hi, 3) as speedup_hi,
        speedup_method,
        round(compile_s, 2) as compile_s,
        round(compile_s_lo, 2) as compile_s_lo,
        round(compile_s_hi, 2) as compile_s_hi,
        round(saving_s_per_image * 1e6, 2) as saving_us_per_image,
        case
            when compile_mode <> 'eager' and saving_s_per_image > 0 and compile_s is not null
                then cast(ceil(compile_s / saving_s_per_image) as bigint)
        end as break_even_images,
        case
            when compile_mode = 'eager' then 'baseline'
            when eager_config_id is null then 'no eager baseline'
            when saving_s_per_image is null or compile_s is null then 'no data'
            when saving_s_per_image <= 0 then 'never (no per-image saving)'
            else cast(cast(ceil(compile_s / saving_s_per_image) as bigint) as varchar)
        end as break_even
    from measured
    order by
        gpu_name, patch, depth, hidden, resolution, batch_size, pipeline,
        case compile_mode
            when 'eager' then 0 when 'default' then 1
            when 'reduce-overhead' then 2 when 'max-autotune' then 3 else 4
        end,
        config_id
)

select * from final
