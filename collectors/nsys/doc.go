// Package nsys is the only code in vitlab that knows NVIDIA Nsight Systems'
// command line.
//
// In: where nsys is (Find: an explicit path, then PATH, then the usual
// install folders /opt/nvidia/nsight-systems/*/bin, /usr/local/cuda/bin and
// /opt/nvidia/nsight-compute/*/host/target-linux-x64, newest version first),
// and extra environment for it (Tool.Env: LD_LIBRARY_PATH entries are put in
// front of the inherited value, so the report importer finds libdw.so.1 on
// hosts that lack it; see GPU.md).
//
// Out: the version string (`nsys --version`), the profile command line
// (ProfileCommand: `nsys profile -t cuda,nvtx --sample=none --cpuctxsw=none
// --force-overwrite=true -o <dir>/trace [--cuda-graph-trace=node] -- cmd…`),
// which the runner starts in its own process group, and the finished export
// (Finish: `nsys export --type sqlite --force-overwrite=true -o trace.sqlite
// trace.nsys-rep`, then trace.sqlite compressed with zstd in Go to
// trace.sqlite.zst, and the .nsys-rep and raw .sqlite removed unless kept).
//
// A capture whose importer failed leaves only a .qdstrm file; Report says so
// with the likely cause (a missing libdw.so.1) instead of a bare "not found".
// The zstd encoder is github.com/klauspost/compress/zstd.
package nsys
