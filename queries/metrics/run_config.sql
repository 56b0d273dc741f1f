-- name: run_config
-- description: One row per run: its configuration key config_id, research question, status, GPU and every effective setting column, plus tokens = (resolution/patch)^2.
-- inputs: runs
-- derive: per-batch
--
-- config_id is a stable text key of every effective setting except the
-- repeat: the plan's configuration name (runs.name, which the collector
-- derives from the settings) when the run's effective settings equal the
-- requested ones (runs.mismatch null), else a key built from the effective
-- settings; then ' @ ' and the GPU name, so that repeats on different cards
-- never pool. Bare exports without a name get 'export:' and the run id.
-- settings_key is the key of the effective settings alone (no plan name,
-- no GPU): what compare_batches matches configurations on across batches,
-- plans and cards; null for a bare export without settings.
create or replace view run_config as
with
    runs_in as (
        select * from runs
    ),
    keyed as (
        select
            *,
            concat_ws('-',
                'p' || patch, 'd' || depth, 'h' || hidden, 'r' || resolution, 'b' || batch_size,
                dtype, compile_mode, pipeline, 'q' || queue_depth, preprocess, 'n' || numa_placement,
                decoder, patch_embed, 'w' || cpu_workers) as settings_key
        from runs_in
    ),
    final as (
        select
            batch_id,
            run_id,
            case
                when name is not null and mismatch is null then name
                when patch is not null then settings_key
                else 'export:' || run_id
            end || coalesce(' @ ' || gpu_name, '') as config_id,
            case when patch is not null then settings_key end as settings_key,
            name,
            repeat,
            rq,
            status,
            gpu_name,
            model,
            patch,
            depth,
            hidden,
            heads,
            mlp,
            resolution,
            source_resolution,
            cast(round((resolution::double / patch) ^ 2) as bigint) as tokens,
            batch_size,
            dtype,
            compile_mode,
            pipeline,
            queue_depth,
            preprocess,
            cpu_workers,
            cpu_threads_per_worker,
            decoder,
            resize,
            patch_embed,
            jpeg_quality,
            cudnn_benchmark,
            numa_cpu,
            numa_mem,
            gpu_numa,
            numa_placement,
            cpus_allowed,
            warmup_batches,
            timed_batches,
            clean_repeats,
            compile_s,
            mismatch
        from keyed
    )
select * from final;
