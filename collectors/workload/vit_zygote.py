#!/usr/bin/env python3
"""vitlab warm start: an interpreter that has imported torch once and forks
one fresh process per run.

    python3 collectors/workload/vit_zygote.py --socket PATH \\
        [--preload torch,timm,torchvision,vit_run] [--log FILE]

Importing torch, timm and torchvision costs ~7 s per process on the lent
H100/H200 hosts, more than a third of a clean phase (cost_probe.py). This
server pays it once per batch. The collector starts it with the clean
phase's environment and NUMA binding and, for each run, executes
vit_launch.py instead of `python3 vit_workload.py`: the launcher hands its
stdin/stdout/stderr, argv, environment and working directory to this
server over a Unix socket, which forks a child that

- starts a session of its own (its process group is the run's: the
  DataLoader workers it spawns die with it),
- takes the launcher's three descriptors, environment, directory and CPU
  affinity, default signal handlers and a reseeded RNG,
- runs the script (vit_workload.py) as __main__ with the launcher's argv.

Each run is therefore still its own process, with its own CUDA context,
model, allocator and workers; only the imported modules' code and data
pages are shared (copy-on-write, frozen before the first fork). CUDA is
never initialised here (that would make forking unsafe): a preload that
initialises it is refused.

Protocol (one connection per run; JSON lines, the first message carrying
the three descriptors with SCM_RIGHTS):

    launcher → server  {"script": PATH, "argv": [...], "env": {...}, "cwd": DIR,
                        "affinity": [cpus]}
    server → launcher  {"pid": N}                    (the child is running)
    server → launcher  {"exit": CODE} | {"signal": SIG} (it ended)
                       {"error": TEXT}               (no child was started)

A launcher that goes away (killed by the collector's timeout) takes its
child with it: the server kills the child's process group when the
connection closes before the child ended. The server is single-threaded
(a select loop): forking from a process with threads is not safe.

stdout gets one line when the server is ready:
    VITLAB_ZYGOTE ready pid=N import_s=S threads=T preloaded=a,b missing=c
(T: its OS threads after the imports. A fork copies only the calling one;
`import torch` alone starts one native thread, so T is 2 with torch, the
state in which every DataLoader forks its workers.)
"""

import argparse
import gc
import importlib
import json
import os
import random
import select
import signal
import socket
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))

# Messages are JSON lines; a message larger than this is refused.
MAX_MESSAGE = 1 << 20


def parse_args(argv):
    p = argparse.ArgumentParser(prog="vit_zygote.py", description=__doc__.split("\n")[0])
    p.add_argument("--socket", required=True, help="Unix socket path to listen on (created)")
    p.add_argument("--preload", default="torch,timm,torchvision",
                   help="comma-separated modules to import before the first fork "
                        "(missing ones are reported, not fatal)")
    p.add_argument("--path", action="append", default=[],
                   help="directory put in front of sys.path (the workload's), repeatable")
    p.add_argument("--log", help="append the server's log lines here (default stderr)")
    return p.parse_args(argv)


def preload(names):
    """preload imports names; returns (imported, missing with reasons)."""
    done, missing = [], []
    for n in [x.strip() for x in names.split(",") if x.strip()]:
        try:
            importlib.import_module(n)
            done.append(n)
        except Exception as e:  # noqa: BLE001 - reported; the child reports it again
            missing.append("%s (%s: %s)" % (n, type(e).__name__, e))
    return done, missing


def os_threads():
    """os_threads counts this process's OS threads (/proc/self/task); a
    fork copies only the calling one, so others (holding a lock) would be
    a hazard. None where /proc is not there."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def cuda_initialised():
    """cuda_initialised says whether torch has created a CUDA context here."""
    torch = sys.modules.get("torch")
    try:
        return bool(torch is not None and torch.cuda.is_initialized())
    except Exception:  # noqa: BLE001
        return False


def recv_message(conn, maxfds=0):
    """recv_message reads one JSON line (and up to maxfds descriptors sent
    with its first bytes); returns (message or None at EOF, fds)."""
    buf = b""
    fds = []
    while not buf.endswith(b"\n"):
        if maxfds and not fds:
            data, got, _flags, _addr = socket.recv_fds(conn, 65536, maxfds)
            fds = list(got)
        else:
            data = conn.recv(65536)
        if not data:
            for fd in fds:
                os.close(fd)
            return None, []
        buf += data
        if len(buf) > MAX_MESSAGE:
            raise ValueError("message longer than %d bytes" % MAX_MESSAGE)
    return json.loads(buf.decode("utf-8")), fds


def send(conn, obj):
    """send writes one JSON line; a gone peer is ignored (the caller sees EOF)."""
    try:
        conn.sendall((json.dumps(obj) + "\n").encode("utf-8"))
    except OSError:
        pass


def child_main(msg, fds, closing):
    """child_main runs in the forked child and never returns."""
    status = 1
    try:
        for s in closing:
            s.close()
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        for i, fd in enumerate(fds[:3]):
            os.dup2(fd, i)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        # The Python streams were made before the fork: rebind them to the
        # launcher's descriptors (unbuffered-ish, as PYTHONUNBUFFERED asks).
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        os.environ.clear()
        os.environ.update(msg.get("env") or {})
        os.chdir(msg.get("cwd") or "/")
        aff = msg.get("affinity")
        if aff and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, aff)
        random.seed()
        gc.unfreeze()
        script = msg["script"]
        sys.argv = [script] + list(msg.get("argv") or [])
        d = os.path.dirname(os.path.abspath(script))
        if d not in sys.path:
            sys.path.insert(0, d)
        import runpy
        try:
            runpy.run_path(script, run_name="__main__")
            status = 0
        except SystemExit as e:
            code = e.code
            if code is None:
                status = 0
            elif isinstance(code, int):
                status = code
            else:
                sys.stderr.write("%s\n" % code)
                status = 1
    except BaseException:  # noqa: BLE001 - the child must end here, whatever happened
        traceback.print_exc()
        status = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        os._exit(status & 0xFF)


class Server:
    """Server accepts launchers and forks their runs (see the module doc)."""

    def __init__(self, path, log):
        self.path = path
        self.log = log
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(path):
            os.unlink(path)
        self.sock.bind(path)
        os.chmod(path, 0o600)
        self.sock.listen(16)
        self.conns = {}      # conn -> child pid (None before the fork)
        self.children = {}   # pid -> conn
        self.stop = False

    def serve(self):
        while not self.stop:
            self.reap()
            rl = [self.sock] + list(self.conns)
            try:
                ready, _, _ = select.select(rl, [], [], 0.05)
            except InterruptedError:
                continue
            for s in ready:
                if s is self.sock:
                    conn, _ = self.sock.accept()
                    self.start(conn)
                else:
                    self.peer_event(s)
        self.shutdown()

    def start(self, conn):
        try:
            msg, fds = recv_message(conn, maxfds=3)
        except (OSError, ValueError) as e:
            self.log("bad request: %s" % e)
            send(conn, {"error": "bad request: %s" % e})
            conn.close()
            return
        if msg is None:
            conn.close()
            return
        if len(fds) != 3 or not msg.get("script"):
            send(conn, {"error": "a request needs a script and 3 descriptors, got %d" % len(fds)})
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        if cuda_initialised():
            send(conn, {"error": "CUDA is initialised in the warm interpreter; forking is unsafe"})
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            child_main(msg, fds, [self.sock] + list(self.conns) + [conn])
        for fd in fds:
            os.close(fd)
        self.conns[conn] = pid
        self.children[pid] = conn
        self.log("run %d: %s" % (pid, " ".join(msg.get("argv") or [])[:200]))
        send(conn, {"pid": pid})

    def peer_event(self, conn):
        """peer_event: a launcher sent bytes or went away. A launcher sends
        nothing after its request, so either means: stop its child."""
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        if data:
            return
        pid = self.conns.pop(conn, None)
        conn.close()
        if pid is not None and pid in self.children:
            self.log("run %d: its launcher went away; killing its process group" % pid)
            self.children[pid] = None
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    def reap(self):
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if os.WIFSIGNALED(st):
                out = {"signal": os.WTERMSIG(st)}
            else:
                out = {"exit": os.WEXITSTATUS(st)}
            self.log("run %d ended: %s" % (pid, out))
            if conn is not None:
                send(conn, out)
                self.conns.pop(conn, None)
                conn.close()

    def shutdown(self):
        for pid in list(self.children):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        for c in list(self.conns):
            c.close()
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logf = open(args.log, "a", buffering=1) if args.log else sys.stderr

    def log(m):
        logf.write("[vit_zygote %s] %s\n" % (time.strftime("%H:%M:%S"), m))

    for d in reversed([HERE] + args.path):
        if d not in sys.path:
            sys.path.insert(0, d)
    t0 = time.perf_counter()
    done, missing = preload(args.preload)
    import_s = time.perf_counter() - t0
    if cuda_initialised():
        print("VITLAB_ZYGOTE error: importing %s initialised CUDA; forking would be unsafe"
              % ",".join(done), flush=True)
        return 1
    for m in missing:
        log("not preloaded: %s" % m)
    gc.collect()
    gc.freeze()  # the imported objects stay in pages the children share
    srv = Server(args.socket, log)

    def on_term(signum, frame):
        srv.stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    threads = os_threads()
    if threads and threads > 1:
        # `import torch` alone starts one native thread (2 OS threads on
        # torch 2.15, no Python thread): the state every DataLoader forks its
        # workers in. More than that is worth a look.
        log("%d OS threads after the imports; a fork copies only the calling one" % threads)
    print("VITLAB_ZYGOTE ready pid=%d import_s=%.3f threads=%s preloaded=%s missing=%s" % (
        os.getpid(), import_s, threads if threads is not None else "?", ",".join(done) or "-",
        ",".join(m.split(" ")[0] for m in missing) or "-"), flush=True)
    srv.serve()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
