-- views.sql: derived views over the base views, one per warehouse table
-- (batches, runs, devices, kernels, memcpys, memsets, cuda_api, nvtx,
-- gpu_samples; see schemas/SCHEMA.md). Each metric is defined here once and
-- saved queries read these views, never files. Times are int64 ns since the
-- export's session start; every view keeps batch_id and run_id so that runs
-- never mix.

-- nsys_round(x, n): the double x rounded to n decimals (0 <= n <= 9) as
-- nsys stats rounds (SQLite's round): on the exact binary value of x,
-- halves away from zero; a DECIMAL(38, 10). DuckDB's round(x, n) scales by
-- 10^n in floating point first, which turns 91365.649999999994 (the double
-- nearest 1827313 / 20) into a half and rounds it up to 91365.7 where nsys
-- prints 91365.6. printf rounds the exact binary value, but halves to even;
-- so printf, except where x is exactly a half at n decimals (x * 2^(n+1) an
-- odd integer, e.g. 2.25 at n = 1): those are printed exactly with n + 1
-- decimals and rounded away from zero in DECIMAL arithmetic.
create or replace macro nsys_round(x, n) as
    cast(
        case
            when fmod(x * pow(2, n + 1), 2) in (1, -1)
                then round(cast(printf('%.' || (n + 1) || 'f', x) as decimal(38, 10)), n)
            else cast(printf('%.' || n || 'f', x) as decimal(38, 10))
        end
        as decimal(38, 10));

-- nsys_mb(bytes): bytes in MB (1e6 bytes) to 3 decimals as nsys stats prints
-- memory sizes: the exact binary value of bytes / 1e6 correctly rounded,
-- halves to even (Python's string formatting); a DECIMAL(38, 10).
create or replace macro nsys_mb(bytes) as
    cast(printf('%.3f', bytes / 1e6) as decimal(38, 10));

-- copy_kinds: nsys copy kind ids (memcpys.copy_kind_id) with the label nsys
-- stats prints in "[CUDA memcpy <label>]". Old exports (before nsys 2022.4)
-- lack the ENUM_CUDA_MEMCPY_OPER table these labels come from; the ids are
-- stable, so the labels live here.
create or replace view copy_kinds as
select * from (values
    (0, 'Unknown'),
    (1, 'Host-to-Device'),
    (2, 'Device-to-Host'),
    (3, 'Host-to-Array'),
    (4, 'Array-to-Host'),
    (5, 'Array-to-Array'),
    (6, 'Array-to-Device'),
    (7, 'Device-to-Array'),
    (8, 'Device-to-Device'),
    (9, 'Host-to-Host'),
    (10, 'Peer-to-Peer'),
    (11, 'Unified Host-to-Device'),
    (12, 'Unified Device-to-Host'),
    (13, 'Unified Device-to-Device')
) as t(copy_kind_id, label);

-- kernel_ops: one row per kernel execution, with its duration.
create or replace view kernel_ops as
select
    k.*,
    k."end" - k.start as duration_ns
from kernels as k;

-- memcpy_ops: one row per memory copy, with its duration and the operation
-- name nsys stats gives it ("[CUDA memcpy Host-to-Device]"); a copy kind id
-- newer than this list is named "[CUDA memcpy Kind <id>]".
create or replace view memcpy_ops as
select
    m.*,
    m."end" - m.start as duration_ns,
    '[CUDA memcpy ' || coalesce(ck.label, 'Kind ' || m.copy_kind_id) || ']' as operation
from memcpys as m
left join copy_kinds as ck
    on ck.copy_kind_id = m.copy_kind_id;

-- memset_ops: one row per memset, with its duration and nsys's operation
-- name "[CUDA memset]".
create or replace view memset_ops as
select
    s.*,
    s."end" - s.start as duration_ns,
    '[CUDA memset]' as operation
from memsets as s;

-- gpu_ops: every GPU operation of a run (kernels, memcpys, memsets) in one
-- shape. op is kernel, memcpy or memset; name is the kernel's demangled
-- name or the memory operation's nsys name; bytes is null for kernels.
create or replace view gpu_ops as
select
    batch_id, run_id, 'kernel' as op, start, "end", duration_ns,
    device_id, context_id, stream_id, correlation_id, global_pid, pid, graph_node_id,
    demangled_name as name, cast(null as bigint) as bytes
from kernel_ops
union all
select
    batch_id, run_id, 'memcpy' as op, start, "end", duration_ns,
    device_id, context_id, stream_id, correlation_id, global_pid, pid, graph_node_id,
    operation as name, bytes
from memcpy_ops
union all
select
    batch_id, run_id, 'memset' as op, start, "end", duration_ns,
    device_id, context_id, stream_id, correlation_id, global_pid, pid, graph_node_id,
    operation as name, bytes
from memset_ops;

-- api_calls: one row per CUDA runtime or driver API call, with its duration
-- and function_name, the name as nsys stats shows it: a trailing 6-character
-- version suffix "_vNNNN" removed (cudaLaunchKernel_v7000 is
-- cudaLaunchKernel; cudaStreamIsCapturing_v10000 keeps its name).
create or replace view api_calls as
select
    a.*,
    a."end" - a.start as duration_ns,
    regexp_replace(a.name, '_v.{4}$', '') as function_name
from cuda_api as a;

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
