-- name: config_headroom
-- description: Per configuration, how much of its throughput is the model: the median over its usable runs of the forward-only bound, the preprocessing-only rate, the pipeline's own bound and the fraction of it reached, with the limiting stage most of its runs name.
-- inputs: run_headroom, usable_runs
--
-- run_headroom says how each run's rates are measured and combined (the
-- workload measures the forward-only and preprocessing-only rates in the
-- run's own process, after its clean windows). One row per configuration
-- with at least one usable run that has them; the findings join it by
-- config_id, so a batch collected before those rates existed shows nulls.
-- bound_runs counts the runs behind the medians; limiting_stage is the
-- stage named by most of them (ties: alphabetical); in_flight_occupancy the
-- median of run_headroom's Little's-law occupancy.
create or replace view config_headroom as
with
    usable as (
        select batch_id, run_id, config_id from usable_runs
    ),
    per_run as (
        select u.config_id, h.*
        from run_headroom as h
        join usable as u
            on u.batch_id = h.batch_id and u.run_id = h.run_id
        where h.bound_img_s is not null
    ),
    final as (
        select
            config_id,
            count(*) as bound_runs,
            median(forward_bound_img_s) as forward_bound_img_s,
            median(prep_bound_img_s) as prep_bound_img_s,
            any_value(bound_kind) as bound_kind,
            median(bound_img_s) as bound_img_s,
            median(bound_fraction) as bound_fraction,
            median(in_flight_occupancy) as in_flight_occupancy,
            mode(limiting_stage order by limiting_stage) as limiting_stage
        from per_run
        group by config_id
    )
select * from final;
