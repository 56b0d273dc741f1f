-- name: run_copy_rates
-- description: Host-to-device copy rates of each run over the copies that start in W: link GB/s, effective GB/s, and the earlier study's per-copy MiB/s.
-- inputs: memcpys, run_window
-- derive: per-batch
--
-- 1 GB = 1e9 B, 1 MiB = 2^20 B. Over HtoD copies starting in W:
--   h2d_link_gbps      = Σ bytes / Σ copy durations (the link's rate while copying)
--   h2d_effective_gbps = Σ bytes / |W| (what the pipeline moved per second)
--   seed_h2d_mib_s     = the mean over copies of bytes / duration in MiB/s
--                        (the earlier study's per-copy "bandwidth")
-- d2h_link_gbps likewise for DtoH copies. Null without copies.
create or replace view run_copy_rates as
with
    copies as (
        select batch_id, run_id, kind, bytes, start, "end" from memcpys
        where kind in ('HtoD', 'DtoH')
    ),
    windows as (
        select * from run_window
    ),
    in_window as (
        select c.*, w.window_ns
        from copies as c
        join windows as w
            on w.batch_id = c.batch_id and w.run_id = c.run_id
        where c.start >= w.w_start and c.start < w.w_end
    ),
    final as (
        select
            batch_id,
            run_id,
            count(*) filter (where kind = 'HtoD') as h2d_copies,
            sum(bytes) filter (where kind = 'HtoD') as h2d_bytes,
            sum(bytes) filter (where kind = 'HtoD') / nullif(sum("end" - start) filter (where kind = 'HtoD'), 0) as h2d_link_gbps,
            sum(bytes) filter (where kind = 'HtoD') / nullif(any_value(window_ns), 0) as h2d_effective_gbps,
            avg(bytes / 1048576.0 / nullif(("end" - start) / 1e9, 0)) filter (where kind = 'HtoD') as seed_h2d_mib_s,
            sum(bytes) filter (where kind = 'DtoH') / nullif(sum("end" - start) filter (where kind = 'DtoH'), 0) as d2h_link_gbps
        from in_window
        group by batch_id, run_id
    )
select * from final;
