-- name: run_throughput
-- description: Clean (untraced) and traced throughput of each run in images/s, and the profiler overhead 1 - traced/clean.
-- inputs: run_images, run_window, runs, clean_windows
-- derive: per-batch
--
-- traced_throughput = images in W / |W| (from the trace, run_images and
-- run_window). clean_throughput = the median of the run's clean windows'
-- throughput (clean_windows, schema v3) where it has any, else
-- runs.clean_throughput (the median of the untraced repeats the workload
-- recorded). profiler_overhead = 1 - traced/clean (null when either is
-- missing). clean_windows counts the windows behind clean_throughput.
create or replace view run_throughput as
with
    runs_in as (
        select batch_id, run_id, clean_throughput from runs
    ),
    images as (
        select * from run_images
    ),
    windows as (
        select * from run_window
    ),
    clean as (
        select batch_id, run_id, median(throughput) as clean_throughput, count(throughput) as clean_windows
        from clean_windows
        where throughput is not null
        group by batch_id, run_id
    ),
    joined as (
        select
            r.batch_id,
            r.run_id,
            coalesce(c.clean_throughput, r.clean_throughput) as clean_throughput,
            coalesce(c.clean_windows, 0) as clean_windows,
            i.images / nullif(w.window_ns / 1e9, 0) as traced_throughput
        from runs_in as r
        left join clean as c
            on c.batch_id = r.batch_id and c.run_id = r.run_id
        left join images as i
            on i.batch_id = r.batch_id and i.run_id = r.run_id
        left join windows as w
            on w.batch_id = r.batch_id and w.run_id = r.run_id
    ),
    final as (
        select
            *,
            1 - traced_throughput / nullif(clean_throughput, 0) as profiler_overhead
        from joined
    )
select * from final;
