"""Tests of the warm start (vit_zygote.py + vit_launch.py) with real
processes, sockets and signals; no torch needed (nothing is preloaded)."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ZYGOTE = os.path.join(HERE, "vit_zygote.py")
LAUNCH = os.path.join(HERE, "vit_launch.py")

SCRIPT = textwrap.dedent("""\
    import json, os, sys, time
    mode = sys.argv[1]
    print("out", mode, flush=True)
    sys.stderr.write("err %s\\n" % mode)
    if mode == "env":
        print(json.dumps({"x": os.environ.get("ZYG_X"), "cwd": os.getcwd(), "pid": os.getpid(),
                          "pgid": os.getpgid(0), "argv": sys.argv[1:],
                          "main": __name__, "aff": sorted(os.sched_getaffinity(0))}), flush=True)
    elif mode == "exit":
        sys.exit(int(sys.argv[2]))
    elif mode == "raise":
        raise RuntimeError("boom")
    elif mode == "sleep":
        import signal
        def term(s, f):
            os.write(1, b"terminated\\n")  # raw: the signal may land inside a print
            sys.exit(143)
        signal.signal(signal.SIGTERM, term)
        # a grandchild in the run's process group, like a DataLoader worker
        import subprocess
        g = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open(sys.argv[2], "w").write(str(g.pid))
        print("sleeping", flush=True)
        time.sleep(60)
    elif mode == "selfkill":
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
""")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie counts as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class ZygoteTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.sock = os.path.join(cls.tmp.name, "z.sock")
        cls.script = os.path.join(cls.tmp.name, "script.py")
        with open(cls.script, "w") as f:
            f.write(SCRIPT)
        cls.log = os.path.join(cls.tmp.name, "z.log")
        cls.srv = subprocess.Popen([sys.executable, ZYGOTE, "--socket", cls.sock, "--preload", "json,nosuchmodule_vitlab",
                                    "--log", cls.log], stdout=subprocess.PIPE, text=True)
        cls.ready = cls.srv.stdout.readline()

    @classmethod
    def tearDownClass(cls):
        cls.srv.terminate()
        cls.srv.wait(10)
        cls.srv.stdout.close()
        cls.tmp.cleanup()

    def launch(self, *args, env=None, cwd=None, **kw):
        e = dict(os.environ, **(env or {}))
        return subprocess.Popen([sys.executable, LAUNCH, "--socket", self.sock, "--", self.script] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
                                cwd=cwd or self.tmp.name, **kw)

    def test_ready_line(self):
        self.assertTrue(self.ready.startswith("VITLAB_ZYGOTE ready pid=%d " % self.srv.pid), self.ready)
        self.assertIn("preloaded=json", self.ready)
        self.assertIn(" threads=1 ", self.ready)
        self.assertIn("missing=nosuchmodule_vitlab", self.ready)

    def test_runs_as_if_executed(self):
        sub = os.path.join(self.tmp.name, "sub")
        os.makedirs(sub, exist_ok=True)
        p = self.launch("env", "a b", env={"ZYG_X": "42"}, cwd=sub)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "out env")
        info = json.loads(lines[1])
        self.assertEqual(info["x"], "42")
        self.assertEqual(info["cwd"], sub)
        self.assertEqual(info["argv"], ["env", "a b"])
        self.assertEqual(info["main"], "__main__")
        self.assertEqual(info["pgid"], info["pid"])  # a process group of its own
        self.assertNotEqual(info["pid"], p.pid)
        self.assertEqual(info["aff"], sorted(os.sched_getaffinity(0)))
        self.assertIn("err env", err)

    def test_affinity_follows_the_launcher(self):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            self.skipTest("one CPU")
        p = self.launch("env", preexec_fn=lambda: os.sched_setaffinity(0, {cpus[-1]}))
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(json.loads(out.splitlines()[1])["aff"], [cpus[-1]])

    def test_exit_status(self):
        for code in (0, 1, 2, 7):
            p = self.launch("exit", str(code))
            p.communicate(timeout=30)
            self.assertEqual(p.returncode, code)
        p = self.launch("raise")
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("RuntimeError: boom", err)

    def test_signal_is_reraised(self):
        p = self.launch("selfkill")
        p.communicate(timeout=30)
        self.assertEqual(p.returncode, -signal.SIGKILL)

    def test_sigterm_reaches_the_run(self):
        gfile = os.path.join(self.tmp.name, "g1")
        p = self.launch("sleep", gfile)
        self.addCleanup(p.stderr.close)
        self.assertEqual(p.stdout.readline().strip(), "out sleep")
        self.assertEqual(p.stdout.readline().strip(), "sleeping")
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
        self.assertIn("terminated", out)
        self.assertEqual(p.returncode, 143)
        with open(gfile) as f:
            g = int(f.read())
        os.kill(g, signal.SIGKILL)  # SIGTERM went to the group: it may be gone already

    def test_killed_launcher_takes_its_run_along(self):
        gfile = os.path.join(self.tmp.name, "g2")
        p = self.launch("sleep", gfile)
        p.stdout.readline()
        p.stdout.readline()
        with open(gfile) as f:
            g = int(f.read())
        p.kill()
        p.wait(10)
        deadline = time.time() + 10
        while alive(g) and time.time() < deadline:
            time.sleep(0.05)
        self.assertFalse(alive(g), "the run's grandchild outlived its killed launcher")
        # the server still serves
        q = self.launch("exit", "0")
        q.communicate(timeout=30)
        self.assertEqual(q.returncode, 0)

    def test_no_server(self):
        p = subprocess.run([sys.executable, LAUNCH, "--socket", os.path.join(self.tmp.name, "none.sock"),
                            "--", self.script, "env"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 3)
        self.assertIn("no warm interpreter answers", p.stderr)

    def test_usage(self):
        p = subprocess.run([sys.executable, LAUNCH, "--socket"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    unittest.main()
