-- name: run_metrics
-- description: One row per run with every per-run metric under fixed names (run_metrics_v), so each can be checked against the raw exports.
-- inputs: run_metrics_v
-- param: batch = null  -- only this batch id (every batch when null)
-- param: run = null  -- only this run id (every run when null)
--
-- Columns and definitions: queries/metrics/run_metrics_v.sql. Fractions in
-- [0, 1], rates per second, 1 GB = 1e9 B.

with

metrics as (
    select * from run_metrics_v
),

final as (
    select * from metrics
    where run_selected(batch_id, run_id)
    order by batch_id, run_id
)

select * from final
