-- name: run_images
-- description: Images each run processed inside W: the batches admitted in W times the run's batch size.
-- inputs: pipeline_batches, runs
-- derive: per-batch
--
-- batches counts `batch N` ranges whose admission lies in W; images =
-- batches × runs.batch_size (every batch is full). A run without a `timed`
-- range or without batch ranges has no row.
create or replace view run_images as
with
    batches as (
        select * from pipeline_batches
        where in_window
    ),
    runs_in as (
        select batch_id, run_id, batch_size from runs
    ),
    final as (
        select
            b.batch_id,
            b.run_id,
            count(*) as batches,
            count(*) * any_value(r.batch_size) as images
        from batches as b
        join runs_in as r
            on r.batch_id = b.batch_id and r.run_id = b.run_id
        group by b.batch_id, b.run_id
    )
select * from final;
