"""Crash safety of the trusted metadata: the client is killed (SIGKILL, by
strace's syscall injection) at its Nth rename, write or fsync on the metadata
dir, its trusted files or their temp files (NAME.tmp.PID) during a refresh
that replaces every trusted file. Each trusted file must then be
byte-identical to its old or its new version (temp files may be left), and a
following refresh must succeed and leave exactly the new state with no temp
files.

strace counts injected syscalls per thread, so a client with worker threads
would be killed by their writes first: the injection is limited (strace -P)
to those paths. To know the temp file names before the client starts, it is
started stopped (a shell that stops itself, then execs the client keeping
its PID), strace attaches to it, and it is continued.
"""

import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from harness import TufTestCase, client_env, traced_env

TEMP = re.compile(r"\.tmp\.[0-9]+$")
MAX_N = 50
SYSCALLS = {
    "rename": "rename,renameat,renameat2",
    "write": "write,pwrite64,writev,pwritev",
    "fsync": "fsync,fdatasync",
}


class TestKilledDuringPersistence(TufTestCase):
    def setUp(self):
        super().setUp()
        if shutil.which("strace") is None:
            self.fail("strace is needed (apt-get install strace)")
        repo = self.setup_trusted()
        self.old = self.trusted_files()
        repo.publish_root()
        repo.add_target("t", b"t")
        repo.commit("targets")
        self.new_versions = self.all_roles_trusted()
        self.new = self.expected_files(self.new_versions)
        for name in self.new:
            self.assertNotEqual(self.new[name], self.old[name])

    def reset(self):
        shutil.rmtree(self.mdir)
        os.mkdir(self.mdir)
        for name, data in self.old.items():
            with open(os.path.join(self.mdir, name), "wb") as f:
                f.write(data)

    def check_consistent(self, n, what):
        files = self.trusted_files()
        trusted = {k: v for k, v in files.items() if not TEMP.search(k)}
        temps = sorted(k for k in files if TEMP.search(k))
        self.assertEqual(sorted(trusted), sorted(self.old),
                         "killed at %s %d: trusted files (temp files: %s)" % (what, n, temps))
        for name, data in trusted.items():
            self.assertTrue(data in (self.old[name], self.new[name]),
                            "killed at %s %d: %s is neither old nor new (%d bytes)"
                            % (what, n, name, len(data)))
        for t in temps:
            self.assertTrue(t[: t.index(".tmp.")] in self.old,
                            "killed at %s %d: unexpected temp file %s" % (what, n, t))
        return sum(trusted[k] == self.new[k] for k in trusted)

    def run_injected(self, what, n):
        """A refresh killed at the nth matching syscall; returns its exit
        status (negative: killed by that signal)."""
        p = subprocess.Popen(["/bin/sh", "-c", 'kill -STOP $$; exec "$0" "$@"',
                              self.client_path] + self.refresh_args() + ["refresh"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=client_env(traced_env()),
                             cwd=self.tmp)
        tracer = None
        try:
            self.wait_proc(p.pid, "State:", lambda v: v.startswith("T"), "stop itself")
            mdir = os.path.realpath(self.mdir)
            paths = [mdir]
            for name in set(self.old) | set(self.new):
                paths += [os.path.join(mdir, name),
                          os.path.join(mdir, "%s.tmp.%d" % (name, p.pid))]
            cmd = ["strace", "-f", "-o", "/dev/null", "-p", str(p.pid),
                   "-e", "inject=%s:signal=KILL:when=%d" % (SYSCALLS[what], n)]
            for path in paths:
                cmd += ["-P", path]
            tracer = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.wait_proc(p.pid, "TracerPid:", lambda v: v != "0",
                           "get traced (strace -p needs ptrace permission: root, or "
                           "kernel.yama.ptrace_scope=0)")
            os.kill(p.pid, signal.SIGCONT)
            _, err = p.communicate(timeout=30)
            _, terr = tracer.communicate(timeout=10)
            err += terr
        finally:
            for proc in (p, tracer):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return p.returncode, err

    def wait_proc(self, pid, field, ok, what):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith(field) and ok(line.split(":", 1)[1].strip()):
                        return
            time.sleep(0.005)
        self.fail("the client process did not %s" % what)

    def kill_at_each(self, what):
        kills = 0
        for n in range(1, MAX_N + 1):
            self.reset()
            rc, err = self.run_injected(what, n)
            if rc == 0:
                self.assert_trusted(self.new_versions,
                                    "after a run with no %s number %d" % (what, n))
                break
            self.assertEqual(rc, -signal.SIGKILL, "not killed at %s %d: exit %s\n%s"
                             % (what, n, rc, err.decode("utf-8", "replace")[-2000:]))
            kills += 1
            self.check_consistent(n, what)
            self.refresh()
            self.assert_trusted(self.new_versions, "after recovery from a kill at %s %d"
                                % (what, n))
        else:
            self.fail("still killed at %s %d" % (what, MAX_N))
        return kills

    def test_kill_at_each_rename(self):
        kills = self.kill_at_each("rename")
        self.assertGreaterEqual(kills, 4, "expected one rename per trusted file")

    def test_kill_at_each_write(self):
        self.assertGreaterEqual(self.kill_at_each("write"), 4)

    def test_kill_at_each_fsync(self):
        self.assertGreaterEqual(self.kill_at_each("fsync"), 4)

    def test_stale_temp_files_are_removed(self):
        self.reset()
        for stale in ("timestamp.json.tmp.999999", "root.json.tmp.1", "d.json.tmp.42"):
            with open(os.path.join(self.mdir, stale), "wb") as f:
                f.write(b"{partial")
        self.refresh()
        self.assert_trusted(self.new_versions)


if __name__ == "__main__":
    unittest.main()
