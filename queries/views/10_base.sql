-- views/10_base.sql: one derived view per event table, with durations and
-- the operation names nsys stats prints; gpu_ops, every GPU operation in
-- one shape.

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

