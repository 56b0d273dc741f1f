-- views/30_launches.sql: each kernel with the API call that launched it and
-- the NVTX ranges around that call.

-- kernel_launches: each kernel with the API call that launched it (matched
-- on process and correlation id) and every NVTX range around that call on
-- the calling thread: one row per (kernel, enclosing range), or one row with
-- null range_id for a kernel launched outside any range (or whose call was
-- not recorded: then api_* are null too). Ranges closed on another thread
-- (end_global_tid) are left out, as nsys does.
create or replace view kernel_launches as
with
    kernels as (
        select * from kernel_ops
    ),
    calls as (
        select batch_id, run_id, global_pid, correlation_id, global_tid, pid, tid, start, "end"
        from cuda_api
    ),
    ranges as (
        select batch_id, run_id, range_id, full_name, style, global_tid, start, end_filled_ranges
        from nvtx_ranges
        where end_global_tid is null
    ),
    launched as (
        select
            k.*,
            c.global_tid as api_global_tid,
            c.pid as api_pid,
            c.tid as api_tid,
            c.start as api_start,
            c."end" as api_end
        from kernels as k
        left join calls as c
            on  c.batch_id = k.batch_id
            and c.run_id = k.run_id
            and c.global_pid = k.global_pid
            and c.correlation_id = k.correlation_id
    ),
    final as (
        select
            l.*,
            r.range_id,
            r.full_name as range_name,
            r.style as range_style
        from launched as l
        left join ranges as r
            on  r.batch_id = l.batch_id
            and r.run_id = l.run_id
            and r.global_tid = l.api_global_tid
            and r.start <= l.api_start
            and r.end_filled_ranges >= l.api_end
    )
select * from final;
