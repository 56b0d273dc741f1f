#!/usr/bin/env bash
# Makes the edge-case exports and NVIDIA's nsys stats of them, on the GPU
# host (see README.md). Run from the repository root with .gpu-libs carried:
#   queries/testdata/nsys_edge/make.sh OUTDIR
set -euo pipefail
out=$(realpath -m "$1")
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p /tmp/dw && for f in .gpu-libs/*.deb; do dpkg -x "$f" /tmp/dw; done
export LD_LIBRARY_PATH=/tmp/dw/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
NSYS=${NSYS:-/opt/nvidia/nsight-compute/2025.3.1/host/target-linux-x64/nsys}
reports=cuda_gpu_kern_sum,cuda_gpu_mem_time_sum,cuda_gpu_mem_size_sum,nvtx_sum,nvtx_gpu_proj_sum,nvtx_kern_sum,cuda_api_sum
w=/tmp/edge; rm -rf "$w"; mkdir -p "$w" "$out"
only=${ONLY:-}
prof() {
  local name=$1; shift
  local mode=$1; shift
  if [ -n "$only" ] && [ "$only" != "$name" ]; then return 0; fi
  echo "== $name: nsys profile $* edge.py $mode"
  "$NSYS" profile --sample=none --cpuctxsw=none --force-overwrite=true -o "$w/$name" "$@" python3 "$here/edge.py" "$mode" > "$w/$name.profile.log" 2>&1 || { tail -20 "$w/$name.profile.log"; return 1; }
  "$NSYS" export --type sqlite --force-overwrite=true -o "$w/$name.sqlite" "$w/$name.nsys-rep" > /dev/null
  (cd "$w" && "$NSYS" stats --report "$reports" --format csv --output "$name" "$name.sqlite" > "$name.log" 2>&1)
  grep -c SKIPPED "$w/$name.log" || true
}
prof nvtx_only nvtx -t nvtx
prof no_events none -t cuda,nvtx
prof graph_level graph -t cuda,nvtx --cuda-graph-trace=graph
prof copies copies -t cuda,nvtx
prof unified um -t cuda,nvtx --cuda-um-cpu-page-faults=true --cuda-um-gpu-page-faults=true
"$NSYS" --version > "$w/NSYS_VERSION"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$w/GPU"
files=$(cd "$w" && ls *.sqlite *.csv *.log NSYS_VERSION GPU | grep -v profile.log)
if command -v zstd > /dev/null; then
  tar -C "$w" -cf - $files | zstd -q -19 > "$out/edge.tar.zst"
else
  tar -C "$w" -cJf "$out/edge.tar.xz" $files
fi
ls -la "$w"
