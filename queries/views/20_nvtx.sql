-- views/20_nvtx.sql: NVTX events with nsys's full names, ranges with their
-- filled ends, and the GPU projection of the ranges that launched work.

-- nvtx_events: every NVTX event with its full name as nsys stats prints it,
-- "<domain>:<name>" (":<name>" in the default domain), and is_range, true
-- for push/pop and start/end ranges (the events NVTX summaries count).
create or replace view nvtx_events as
select
    n.*,
    coalesce(n.domain, '') || ':' || coalesce(n.name, '') as full_name,
    n.style in ('PushPop', 'StartEnd') as is_range
from nvtx as n;

-- nvtx_ranges: the push/pop and start/end ranges of nvtx_events. A range
-- never closed (null end) ends, for nsys, at the run's last NVTX timestamp,
-- and nsys's reports disagree on which events count:
--   end_filled, duration_ns: last start or end of ANY NVTX event of the run
--     (marks and domain events too), as nsys's nvtx_sum;
--   end_filled_ranges: last start or end of the run's RANGES only, as
--     nsys's projection reports (nvtx_gpu_proj_sum, nvtx_kern_sum).
create or replace view nvtx_ranges as
with
    events as (
        select * from nvtx_events
    ),
    run_last as (
        select
            batch_id,
            run_id,
            max(greatest(start, coalesce("end", start))) as last_any_ns,
            max(greatest(start, coalesce("end", start))) filter (where is_range) as last_range_ns
        from events
        group by batch_id, run_id
    ),
    final as (
        select
            e.*,
            coalesce(e."end", l.last_any_ns) as end_filled,
            coalesce(e."end", l.last_any_ns) - e.start as duration_ns,
            coalesce(e."end", l.last_range_ns) as end_filled_ranges
        from events as e
        join run_last as l
            on l.batch_id = e.batch_id and l.run_id = e.run_id
        where e.is_range
    )
select * from final;

-- nvtx_gpu_proj: the ranges that launched GPU work (gpu_ops > 0), projected
-- onto the GPU as the ETL computed it (nsys's nvtx_gpu_proj_trace: an
-- operation belongs to every range around its API call on the same
-- thread). proj_ns is first op start to last op end; range_ns the range on
-- the host (end_filled_ranges); child_ranges counts the range's direct
-- children (parent_id) that launched GPU work themselves.
create or replace view nvtx_gpu_proj as
with
    ranges as (
        select * from nvtx_ranges
    ),
    projected as (
        select * from ranges
        where gpu_ops > 0
    ),
    children as (
        select batch_id, run_id, parent_id as range_id, count(*) as child_ranges
        from projected
        where parent_id is not null
        group by batch_id, run_id, parent_id
    ),
    final as (
        select
            p.batch_id,
            p.run_id,
            p.range_id,
            p.full_name,
            p.style,
            p.global_tid,
            p.pid,
            p.tid,
            p.depth,
            p.parent_id,
            p.start,
            p.end_filled_ranges,
            p.end_filled_ranges - p.start as range_ns,
            p.gpu_start,
            p.gpu_end,
            p.gpu_end - p.gpu_start as proj_ns,
            p.gpu_ops,
            coalesce(c.child_ranges, 0) as child_ranges
        from projected as p
        left join children as c
            on c.batch_id = p.batch_id and c.run_id = p.run_id and c.range_id = p.range_id
    )
select * from final;

