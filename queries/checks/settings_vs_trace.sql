-- name: settings_vs_trace
-- description: Runs whose trace contradicts their recorded settings (H2D bytes per batch, attention kernels per block, CUDA graph launches, Triton kernels, streams); claims leave them out.
-- inputs: runs_flagged
-- param: batch = null  -- only this batch id (every batch when null)
--
-- The rules and their thresholds: queries/metrics/runs_flagged.sql (the
-- view claims read, so the check and the claims agree by construction).

with

flagged as (
    select * from runs_flagged
),

final as (
    select * from flagged
    where batch_selected(batch_id)
    order by batch_id, run_id, "check"
)

select * from final
