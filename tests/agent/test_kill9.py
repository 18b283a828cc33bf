"""test_kill9.py — kill -9 at every write, rename and fsync of a content
update leaves the agent on exactly the old or the new content, with a
consistent state directory, and it converges to the new content.

The update: an agent that runs version 4 (its last-known-good) is assigned
version 6 by a fake control plane (content through a real ringfenced's TUF
repository, where release 6 was published after the agent last refreshed).
It refreshes the TUF metadata (timestamp, snapshot and targets written to
STATE/tuf/), downloads the target into STATE/download/, writes slot b,
records the trial in guard.json, swaps, writes run.json, and one second
later (--confirm-after 1) confirms 6 in guard.json. The control plane asks
for the next check-in only after 60 s, so the sequence of system calls is
the same at every run (--events none: the event thread writes nothing).

1. A reference run under `strace -f -y` lists the main thread's write,
   rename and fsync calls; those on files of the state directory, from the
   first write of the update to the confirmation's fsync of the directory,
   are the cases (about 30; every one is run: each rename, each fsync, each
   write).
2. For each case (syscall S, its Kth call in the main thread), a pristine
   copy of the state directory runs under `strace -e inject=S:signal=KILL:
   when=K`: SIGKILL on entering that call. The trace shows it died there.
3. Then the agent starts normally on that directory and must: load
   guard.json (status exits 0, nothing quarantined), run version 4 or 6 and
   no other, from the slot guard.json names, whose file holds exactly that
   version's bytes; then converge to 6 as the last-known-good. Files left
   over by the kill are only temporary files of the killed process
   (NAME.tmp.PID, run.json.tmp, a finished download), each beside the real
   file it was meant to replace, and none of them is ever read.
Cases run two at a time.
"""

import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib as A  # noqa: E402

H = A.H
TRACED = "write,rename,renameat,renameat2,fsync,fdatasync"
RUN_ARGS = ["--events", "none", "--confirm-after", "1", "--max-backoff", "2"]
ENTRY_RX = re.compile(r"^(\d+) +(\w+)\((.*)$")  # strace pads short pids


def strace_child(p, timeout=10):
    """The pid of the process strace P runs."""
    for _ in H.deadline_loop(timeout, 0.02):
        try:
            with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
        except OSError:
            pass
        if p.poll() is not None:
            return None
    return None


def main_calls(trace, state):
    """[(syscall, k, line)] of the main thread's traced calls, k counting
    per syscall from 1 (strace counts injections per syscall and tracee);
    `state` marks those on the state directory."""
    out = []
    counts = {}
    main = None
    with open(trace, errors="replace") as f:
        for line in f:
            m = ENTRY_RX.match(line)
            if not m:
                continue
            pid, name = int(m.group(1)), m.group(2)
            if main is None:
                main = pid
            if pid != main:
                continue
            counts[name] = counts.get(name, 0) + 1
            on_state = any(state + c in line for c in "/>\"")
            out.append((name, counts[name], line.rstrip("\n"), on_state))
    return out, main


def norm(line, state, pid):
    """A trace line with the state directory and the pid in temporary file
    names made generic, the result and (for writes) the data cut off: what
    two runs have in common (run.json's figures differ from run to run)."""
    line = line.split("<unfinished")[0].rstrip()
    line = re.sub(r"\) += .*$", "", line).rstrip(")")
    line = re.sub(r"^\d+ +", "", line).replace(state, "STATE")
    line = re.sub(r"^(write\(\d+<[^>]*>).*$", r"\1", line)  # not what it writes
    return re.sub(r"\.tmp\.%d" % pid, ".tmp.PID", line).strip()


class Kill9Test(A.AgentCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not shutil.which("strace"):
            raise unittest.SkipTest("strace is not installed")
        cls.srv, cls.w = cls.class_server(bootstrap=False)
        cls.w.bootstrap({"vendor": (True, None)})
        A.release(cls.w, 4)
        cls.cp = cls.class_fake()
        a = A.RealAgent(cls.fx.new_dir("setup"), "setup")
        cls.addClassCleanup(a.retire)
        root = os.path.join(cls.fx.dir, "root.json")
        A.fetch_root(cls.srv, root)
        a.enroll_ok(cls.cp.url, "enroll-ok", root,
                    tuf_url="http://127.0.0.1:%d/tuf" % cls.srv.port)
        cls.tok = a.read_json("agent.json")["token"]
        cls.cp.assign[cls.tok] = [A.assignment(4)]
        a.start(events="none", confirm_after=1)
        a.wait_version(4, 30, lkg=4)
        a.stop_ok()
        A.release(cls.w, 6, new=True)
        cls.pristine = os.path.join(cls.fx.dir, "pristine")
        shutil.copytree(a.state, cls.pristine)
        cls.cp.assign[cls.tok] = [A.assignment(6)]
        cls.cp.next_checkin_s[cls.tok] = 60
        cls.v4, cls.v6 = A.content(cls.fx, 4), A.content(cls.fx, 6, new=True)

    def fresh(self, name):
        d = os.path.join(self.fx.dir, name)
        shutil.copytree(self.pristine, d)
        return d

    def strace(self, state, trace, inject=None):
        argv = ["strace", "-f", "-qq", "-y", "-o", trace, "-e", "trace=" + TRACED]
        if inject:
            argv += ["-e", "inject=%s:signal=KILL:when=%d" % inject]
        argv += [A.AGENT, "run", "--state-dir", state] + RUN_ARGS
        logf = open(trace + ".stderr", "w")
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                 env=A.sanitizer_env(leaks=False))  # no LSan under ptrace
        finally:
            logf.close()
        A._LIVE.add(p)
        return p

    def reference(self):
        state = self.fresh("reference")
        trace = os.path.join(self.fx.dir, "reference.trace")
        p = self.strace(state, trace)
        try:
            ag = A.RealAgent(self.fx.dir, "reference")
            ag.state = state
            ag.logs = [trace + ".stderr"]
            ag.wait_version(6, 60, lkg=6)
            ag.wait_log(r"version 6 confirmed healthy", 10)
            # the confirmation's guard.json is in place: stop it
            pid = strace_child(p)
            self.assertIsNotNone(pid)
            os.kill(pid, signal.SIGTERM)
            self.assertEqual(p.wait(A.T(30)), 0, H.read_log(trace + ".stderr")[-3000:])
        finally:
            if p.poll() is None:
                A.kill_tree(p)
            A._LIVE.discard(p)
        calls, main = main_calls(trace, state)
        # the update: from its first write on the state directory (the TUF
        # metadata) to the fsync of the directory after the last guard.json
        first = next(i for i, c in enumerate(calls)
                     if c[3] and c[0] == "write" and "/tuf/" in c[2])
        last_rename = max(i for i, c in enumerate(calls)
                          if c[3] and c[0].startswith("rename") and "guard.json" in c[2])
        last = next(i for i in range(last_rename, len(calls))
                    if calls[i][0] == "fsync" and calls[i][3])
        cases = [(c[0], c[1], norm(c[2], state, main)) for c in calls[first:last + 1] if c[3]]
        return cases

    def one_case(self, n, syscall, k, want):
        """Kill at the Kth SYSCALL; returns a list of problems (empty: fine)
        and what the case saw."""
        name = "case-%02d-%s-%d" % (n, syscall, k)
        state = self.fresh(name)
        trace = os.path.join(self.fx.dir, name + ".trace")
        p = self.strace(state, trace, (syscall, k))
        try:
            rc = p.wait(A.T(40))
        except subprocess.TimeoutExpired:
            A.kill_tree(p)
            return ["%s: not killed at %s #%d within %.0f s" % (name, syscall, k, A.T(40))], None
        finally:
            A._LIVE.discard(p)
        problems = []
        A.scan_text(H.read_log(trace + ".stderr"), trace + ".stderr")
        calls, main = main_calls(trace, state)
        text = H.read_log(trace)
        if rc not in (-signal.SIGKILL, 128 + signal.SIGKILL) or "killed by SIGKILL" not in text:
            problems.append("%s: strace exited %s, not by SIGKILL" % (name, rc))
        got = [c for c in calls if c[0] == syscall and c[1] == k]
        if not got or norm(got[0][2], state, main) != want:
            problems.append("%s: killed at %r, the reference had %r there" %
                            (name, got and norm(got[0][2], state, main), want))

        ag = A.RealAgent(self.fx.dir, name)
        ag.state = state
        try:
            rc, v, err = ag.status()
            c = ag.chan(v) if isinstance(v, dict) else None
            if rc != 0 or not c or c["active_version"] not in (4, 6):
                problems.append("%s: after the kill status exits %d: %s %s" % (name, rc, v, err))
                return problems, None
            ag.start(events="none", confirm_after=1, restart=False)
            boot = ag.wait_log(r"running version (\d+) from slot ([ab])", 20)[0]
            version, slot = int(boot[0]), boot[1]
            c = ag.chan()
            f = ag.path("slots", str(A.CHANNEL), slot + ".rfc")
            if version not in (4, 6):
                problems.append("%s: runs version %d" % (name, version))
            elif H.read(f, "rb") != (self.v4 if version == 4 else self.v6):
                problems.append("%s: slot %s does not hold version %d's bytes" %
                                (name, slot, version))
            log = ag.log_text()
            if os.path.exists(ag.path("quarantine")) or "empty state" in log:
                problems.append("%s: guard.json was quarantined:\n%s" % (name, log[-2000:]))
            ag.wait_version(6, 30, lkg=6)
            ag.stop_ok()
            # what the kill left behind
            left = []
            for base, _dirs, files in os.walk(state):
                for fn in files:
                    rel = os.path.relpath(os.path.join(base, fn), state)
                    if ".tmp" in fn:
                        left.append(rel)
                        m = re.fullmatch(r"(.*)\.tmp(?:\.(\d+))?", rel)
                        # a download is removed once read: its temporary
                        # file has nothing beside it
                        if not m or (m.group(2) and int(m.group(2)) != main) or \
                                not (rel.startswith("download" + os.sep) or
                                     os.path.exists(os.path.join(state, m.group(1)))):
                            problems.append("%s: a stray file %s" % (name, rel))
                    elif rel.startswith("download" + os.sep):
                        left.append(rel)
            return problems, (version, left)
        except AssertionError as e:
            problems.append("%s: %s" % (name, e))
            return problems, None
        finally:
            try:
                ag.retire()
            except AssertionError as e:
                problems.append("%s: %s" % (name, e))

    def test_kill9_every_call(self):
        t0 = time.monotonic()
        cases = self.reference()
        kinds = {s for s, _k, _w in cases}
        self.assertTrue({"write", "fsync"} <= kinds and any(k.startswith("rename")
                                                            for k in kinds), cases)
        self.assertGreaterEqual(len(cases), 20, cases)
        self.assertLessEqual(len(cases), 80, cases)
        A.log("kill9: %d cases: %s" % (len(cases), [(s, k) for s, k, _ in cases]))
        problems, seen = [], {}
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            futs = {ex.submit(self.one_case, n, s, k, want): (n, s, k, want)
                    for n, (s, k, want) in enumerate(cases)}
            for fu in concurrent.futures.as_completed(futs):
                n, s, k, want = futs[fu]
                pr, what = fu.result()
                problems += pr
                seen[n] = (want, what)
        for n in sorted(seen):
            A.log("kill9 %02d %-60s -> %s" % (n, seen[n][0][:60], seen[n][1]))
        self.assertEqual(problems, [], "\n".join(problems))
        versions = {w[0] for (_want, w) in seen.values() if w}
        self.assertEqual(versions, {4, 6}, "the kills should leave both old and new")
        A.log("kill9: %.0f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    unittest.main()
