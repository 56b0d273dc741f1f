// Package nvtxproj computes the NVTX range tree and the projection of NVTX
// ranges onto the GPU, the way NVIDIA's nvtx_gpu_proj_trace and
// nvtx_gpu_proj_sum reports define them, in one pass per thread. It is pure
// Go over Arrow records in the warehouse schemas of package schemas; it
// wraps no outside library and knows nothing of SQLite.
//
// What goes in, in this order:
//
//   - nvtx records (AddRanges): range_id, event_type, start, end, global_tid,
//     end_global_tid. Ranges are push/pop and start/end events (types 59, 60,
//     70, 71); only those that end on the thread that opened them
//     (end_global_tid null) take part. A range never closed (end null) is
//     taken to end at the latest start or end of any range of the export.
//   - kernels, memcpys and memsets records (AddOps): global_pid,
//     correlation_id, start, end. Only operations of processes that have
//     ranges are kept, as one GPU span per (process, correlation id).
//   - cuda_api records (AddCalls): global_tid, correlation_id, start, end.
//     Only calls on threads with ranges that launched a kept operation are
//     kept.
//
// What comes out (Project): for every range that takes part, its depth
// (0 at the top), its parent — the tightest range of the same thread with
// parent.start ≤ start and parent.end ≥ end, tightness being
// (start − parent.start) + (parent.end − end) — and its GPU projection: the
// API calls of the same thread that lie inside the range
// (range.start ≤ call.start and call.end ≤ range.end), joined to their GPU
// operations by (process, correlation id); gpu_start is the first operation
// start, gpu_end the last operation end, gpu_ops the number of distinct
// correlation ids of such calls (0 when there are none, and then gpu_start
// and gpu_end are null). Every enclosing range gets the operation, not only
// the innermost. Projection.Fill writes these into the depth, parent_id,
// gpu_start, gpu_end and gpu_ops columns of nvtx records; events that do
// not take part keep nulls there.
//
// Where nsys is undefined, this package is deterministic: nsys makes two
// identical ranges of a thread each other's parent (a cycle that drops both
// from its tree); here the earlier of the two in (start, end desc, range_id)
// order is the parent of the later one. Between two containing ranges of
// equal tightness that do not contain each other, the one opened later wins.
// When no range of the export has an end, open ranges end at the latest
// start (nsys's end would be NULL).
//
// Cost: per thread, sorting plus O(log n) per range and per call (Fenwick
// trees over end and start times), so ranges left open — which overlap
// everything after them — cost no more than nested ones. A thread where two
// API rows share a correlation id is projected by walking the calls inside
// each range instead, to count distinct ids.
//
// Memory: the ranges, one span per (process, correlation id) for processes
// with ranges, and the matching calls of threads with ranges; nothing
// when the export has no NVTX ranges.
package nvtxproj
