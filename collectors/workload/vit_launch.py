#!/usr/bin/env python3
"""vitlab warm start, the launcher: runs a script in a fresh process forked
by vit_zygote.py, as if it had been executed here.

    python3 collectors/workload/vit_launch.py --socket PATH -- SCRIPT [ARGS...]

It hands its stdin/stdout/stderr, environment, working directory and CPU
affinity to the server, waits for the child and exits as it did: the same
exit status, or the same signal (re-raised on itself). SIGTERM and SIGINT
are passed on to the child's process group, so the collector's timeout
(SIGTERM, then SIGKILL of this launcher's group) reaches the run: on
SIGTERM the workload still writes its result; if this launcher is killed
outright, the server kills the child when the connection drops.

Exit status 3 (and a line on stderr) when no server answers on PATH: the
collector then knows the warm interpreter is gone, not the run.

Standard library only, so it starts in ~40 ms.
"""

import json
import os
import signal
import socket
import sys

NO_SERVER = 3


def usage():
    sys.stderr.write("usage: vit_launch.py --socket PATH -- SCRIPT [ARGS...]\n")
    return 2


def read_line(sock, buf):
    """read_line returns (one JSON message or None at EOF, the rest of buf)."""
    while b"\n" not in buf:
        try:
            data = sock.recv(65536)
        except InterruptedError:
            continue
        if not data:
            return None, buf
        buf += data
    line, _, rest = buf.partition(b"\n")
    return json.loads(line.decode("utf-8")), rest


def main(argv):
    if len(argv) < 4 or argv[0] != "--socket" or argv[2] != "--":
        return usage()
    path, script, args = argv[1], argv[3], argv[4:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sys.stderr.write("vit_launch.py: no warm interpreter answers on %s: %s\n" % (path, e))
        return NO_SERVER
    try:
        aff = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        aff = None
    msg = {"script": os.path.abspath(script), "argv": args, "env": dict(os.environ),
           "cwd": os.getcwd(), "affinity": aff}
    sys.stdout.flush()
    sys.stderr.flush()
    socket.send_fds(sock, [(json.dumps(msg) + "\n").encode("utf-8")], [0, 1, 2])
    child = {"pid": None, "pending": []}

    def forward(signum, frame):
        if child["pid"] is None:
            child["pending"].append(signum)
            return
        try:
            os.killpg(child["pid"], signum)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    buf = b""
    while True:
        m, buf = read_line(sock, buf)
        if m is None:
            sys.stderr.write("vit_launch.py: the warm interpreter on %s closed the connection "
                             "before the run ended\n" % path)
            return NO_SERVER
        if "error" in m:
            sys.stderr.write("vit_launch.py: the warm interpreter refused the run: %s\n" % m["error"])
            return NO_SERVER
        if "pid" in m:
            child["pid"] = m["pid"]
            for s in child["pending"]:
                forward(s, None)
            continue
        if "signal" in m:
            sig = int(m["signal"])
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(sig, signal.SIG_DFL)
            sys.stdout.flush()
            os.kill(os.getpid(), sig)
            return 128 + sig
        return int(m.get("exit", 1))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
