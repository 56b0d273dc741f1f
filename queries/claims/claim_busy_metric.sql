-- name: claim_busy_metric
-- description: The utilisation metric the claims C1-C5 test, as a run_values metric name.
-- inputs: run_values
--
-- gpu_busy is measured in the traced run, whose throughput may differ
-- from the untraced one (profiler overhead); gpu_busy_untraced (kernel
-- busy time per image x untraced throughput) estimates the untraced value.
-- The one line below names the metric C1-C5 use.
create or replace macro claim_busy_metric() as
    -- utilisation metric: gpu_busy
    'gpu_busy';
