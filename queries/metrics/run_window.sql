-- name: run_window
-- description: The window W of each run: its NVTX range `timed` (opened after warm-up, closed after a device sync), with its length.
-- inputs: nvtx_ranges
-- derive: per-batch
--
-- One row per run that has a `timed` range. w_start/w_end are host times
-- (ns since the session start); window_ns = w_end - w_start. Were there
-- several `timed` ranges, W spans the first start to the last end.
create or replace view run_window as
with
    ranges as (
        select * from nvtx_ranges
    ),
    final as (
        select
            batch_id,
            run_id,
            min(start) as w_start,
            max(end_filled) as w_end,
            max(end_filled) - min(start) as window_ns
        from ranges
        where name = 'timed'
        group by batch_id, run_id
    )
select * from final;
