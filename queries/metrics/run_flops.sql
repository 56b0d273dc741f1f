-- name: run_flops
-- description: Analytic FLOPs per image of each run's ViT, achieved TFLOP/s at the clean throughput, the card's dense bf16 peak and the fraction reached.
-- inputs: runs, run_throughput, gpu_cards
-- derive: per-batch
--
-- A MAC (multiply-accumulate) counts as 2 FLOPs. With P = patch, L = depth,
-- D = hidden, M = mlp (4D when null), R = resolution, C = 1000 classes,
-- N = (R/P)^2 + 1 tokens (patches plus the class token), MACs per image:
--   patch embedding   (R/P)^2 · (3·P^2) · D  = 3·R^2·D
--   per block, L times:
--     QKV projection  N · D · 3D
--     attention QK^T  N · N · D   (all heads: heads × N × N × D/heads)
--     attention AV    N · N · D
--     out projection  N · D · D
--     MLP             N · D · M  +  N · M · D
--   head              D · C       (the class token only)
-- flops_per_image = 2 · (3R²D + L·(4ND² + 2N²D + 2NDM) + DC). Softmax,
-- layer norms, GELU, biases and position embeddings (O(N·D) each) are left
-- out: under 1 % for these sizes.
-- tflops = flops_per_image × throughput / 1e12, with the clean throughput
-- (the traced one where the clean is missing); peak_tflops from gpu_cards
-- (longest matching name pattern); peak_fraction = tflops / peak_tflops.
create or replace view run_flops as
with
    runs_in as (
        select batch_id, run_id, patch, depth, hidden, coalesce(mlp, 4 * hidden) as mlp, resolution, gpu_name from runs
    ),
    throughput as (
        select * from run_throughput
    ),
    cards as (
        select * from gpu_cards
    ),
    sized as (
        select
            *,
            (resolution::double / patch) ^ 2 + 1 as tokens
        from runs_in
    ),
    flops as (
        select
            batch_id,
            run_id,
            gpu_name,
            2 * (3.0 * resolution ^ 2 * hidden
                 + depth * (4.0 * tokens * hidden ^ 2 + 2.0 * tokens ^ 2 * hidden + 2.0 * tokens * hidden * mlp)
                 + hidden * 1000.0) as flops_per_image
        from sized
    ),
    matched as (
        select
            f.batch_id,
            f.run_id,
            arg_max(c.card, length(c.name_pattern)) as card,
            arg_max(c.peak_bf16_tflops, length(c.name_pattern)) as peak_tflops
        from flops as f
        join cards as c
            on f.gpu_name like c.name_pattern
        group by f.batch_id, f.run_id
    ),
    final as (
        select
            f.batch_id,
            f.run_id,
            f.flops_per_image,
            f.flops_per_image * coalesce(t.clean_throughput, t.traced_throughput) / 1e12 as tflops,
            m.card,
            m.peak_tflops,
            f.flops_per_image * coalesce(t.clean_throughput, t.traced_throughput) / 1e12 / m.peak_tflops as peak_fraction
        from flops as f
        left join throughput as t
            on t.batch_id = f.batch_id and t.run_id = f.run_id
        left join matched as m
            on m.batch_id = f.batch_id and m.run_id = f.run_id
    )
select * from final;
