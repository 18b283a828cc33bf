"""test_bootguard.py — the boot guard against real crashes, with no network.

  crash loop    an agent run with --fault crash-on-content=291:6 (abort()
                as soon as version 6 is active) under a supervisor that
                starts it again whenever it dies (Restart=always). Release 4
                rolls out and is confirmed; release 6 rolls out, the agent
                takes it and aborts. The supervisor stops the server before
                the first restart, so everything after is without network:
                the agent crash-loops on 6 and, at its Nth start since the
                trial began (default 3; and with --max-starts 2, the server
                killed -9 instead), runs version 4 again from its slot with 6
                in bad, evaluating events. Once the server is back it
                reports 6 bad, the rollout counts the host as reverted, and
                the agent never runs 6 again.
  clean stops   SIGTERM five times during a trial (a service restarted, a
                host shut down): the trial goes on, its count back at 0 after
                each stop, nothing is marked bad. Then kill -9 N times: those
                count, and the Nth start reverts.
  torn guard    guard.json overwritten with garbage, cut in half or emptied
                while the agent is stopped: status exits 1 and changes
                nothing; the agent moves the file to STATE/quarantine/,
                starts anyway and takes its content again.
"""

import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib as A  # noqa: E402

H = A.H
SIGABRT_EXIT = -6


def this_run(a):
    """run.json is the running process's (not left by the one before)."""
    return a.run_json().get("pid") == a.pid()


class BootGuardTest(A.AgentCase):
    def crash_loop(self, max_starts, kill_server):
        srv, w = self.server()
        a = self.enrolled(srv, w, "crashy-%d" % max_starts)
        a.restart_delay = 0.3
        net = {"down": threading.Event(), "rc": None}

        def on_exit(agent, rc):
            # the first crash: take the network away before any restart
            if rc == SIGABRT_EXIT and not net["down"].is_set():
                if kill_server:
                    srv.kill9()
                else:
                    net["rc"] = srv.stop()
                net["down"].set()
        a.on_exit = on_exit
        a.start(events="synthetic:200", confirm_after=2, max_backoff=1,
                max_starts=max_starts, fault="crash-on-content=291:6")
        ro4 = w.start_rollout(A.release(w, 4))
        a.wait_version(4, 30, lkg=4)
        A.wait_for(lambda: w.rollout(ro4["id"])["state"] == "complete", A.T(30),
                   "rollout of 4 complete")
        self.assertEqual(a.exits, [])

        ro6 = w.start_rollout(A.release(w, 6, new=True))
        a.wait(net["down"].is_set, 30, "the agent took 6 and crashed")
        self.assertTrue(kill_server or net["rc"] == 0, "the server exited %s" % net["rc"])

        # without network: the crash loop ends on the last-known-good
        def reverted():
            c = a.chan()
            return (c and c["active_version"] == 4 and c["bad"] == [6] and "trial" not in c
                    and a.alive() and a.running() == 4 and a.events() > 0)
        a.wait(reverted, 60, "back on 4 with 6 bad, with the server down")
        self.assertFalse(srv.alive(), "the server came back before the revert")
        aborts = [rc for (_n, rc) in a.exits if rc == SIGABRT_EXIT]
        self.assertEqual(a.exits, [(n, SIGABRT_EXIT) for n in range(1, max_starts + 1)],
                         "expected one crash on activation and %d at start" % (max_starts - 1))
        self.assertEqual(len(aborts), max_starts)
        # it is at its (max_starts + 1)th process start: the Nth since the trial began
        self.assertEqual(a.starts, max_starts + 1)
        log = a.log_text()
        self.assertIn("fault injection: crash-on-content=291:6 is now active; aborting", log)
        self.assertRegex(log, r"boot guard: channel 291 version 6 did not survive %d starts; "
                              r"reverted to last-known-good version 4" % max_starts)
        self.assertRegex(log, r"running version 4 from slot a")
        c = a.chan()
        self.assertEqual((c["lkg_version"], c["highest_trusted"]), (4, 4))
        self.assertIn("content keeps running", log)  # the check-ins failed meanwhile

        # the server is back: the revert is reported and counted
        srv.restart(timeout=A.T(30))
        r = A.wait_for(lambda: (lambda r: r if r["hosts"]["reverted"] >= 1 else None)(
            w.rollout(ro6["id"])), A.T(30), "the rollout counts the revert")
        self.assertEqual(r["hosts"]["reverted"], 1, r)
        a.wait(lambda: a.run_json().get("last_checkin_ok", 0) > 0 and
               not a.run_json().get("last_error"), 20, "check-ins again")
        n_exits = len(a.exits)
        # whatever the server does next (halt, roll back to a new version),
        # 6 never runs again
        a.wait(lambda: a.running() in (4, 7) and a.chan()["bad"] == [6], 20, "no 6")
        self.assertEqual(len(a.exits), n_exits, "it crashed again after the revert")
        self.assertTrue(a.alive())
        return a

    def test_crash_loop_default_3(self):
        self.crash_loop(3, kill_server=False)

    def test_crash_loop_max_starts_2(self):
        self.crash_loop(2, kill_server=True)

    def stopped_on_4(self, name, also=()):
        """An agent that took release 4 (and confirmed it), then stopped.
        The real server only serves TUF here (4 and the releases ALSO, 6
        with the new content); a fake control plane assigns. Returns the
        agent, the fake and the agent's token."""
        srv, w = self.server(bootstrap=False)
        w.bootstrap({"vendor": (True, None)})
        A.release(w, 4)
        for v in also:
            A.release(w, v, new=v == 6)
        fake = self.fake()
        a, tok = self.enrolled_fake(fake, srv, name)
        fake.assign[tok] = [A.assignment(4)]
        a.start(events="synthetic:200", confirm_after=1)
        a.wait_version(4, 30, lkg=4)
        a.stop_ok()
        return a, fake, tok

    def test_clean_stops_do_not_count(self):
        a, fake, tok = self.stopped_on_4("clean", also=(6,))
        # 6 on trial for far longer than the test runs
        fake.assign[tok] = [A.assignment(6)]
        a.start(events="synthetic:200", confirm_after=3600)
        a.wait_version(6, 30)
        for n in range(5):
            a.stop_ok()
            c = a.chan()
            self.assertEqual((c["active_version"], c["trial"]["version"], c["trial"]["starts"],
                              c["bad"]), (6, 6, 0, []), "after clean stop %d" % (n + 1))
            if n:
                self.assertIn("clean stop: this start does not count against the trial",
                              H.read_log(a.logs[-1]))
            a.start(events="synthetic:200", confirm_after=3600)
            a.wait(lambda: this_run(a) and a.running() == 6 and a.events() > 0, 30,
                   "6 runs again")
            self.assertEqual(a.chan()["trial"]["starts"], 1)
        # kill -9 is no clean stop: starts 2, 3 count, the third reverts
        for n in (2, 3):
            a.kill9()
            a.start(events="synthetic:200", confirm_after=3600)
            if n < 3:
                a.wait(lambda: this_run(a) and a.running() == 6, 30,
                       "6 runs after kill %d" % (n - 1))
                self.assertEqual(a.chan()["trial"]["starts"], n)
        a.wait(lambda: this_run(a) and a.running() == 4 and a.chan()["bad"] == [6], 30,
               "reverted to 4 at the third unclean start")
        self.assertRegex(a.log_text(), r"boot guard: channel 291 version 6 did not survive 3 "
                                       r"starts; reverted to last-known-good version 4")
        a.stop_ok()

    def test_torn_guard(self):
        a, _fake, _tok = self.stopped_on_4("torn")
        good = H.read(a.path("guard.json"), "rb")
        qdir = a.path("quarantine")
        for n, torn in enumerate([b"\x00\x17garbage{{{ not json", good[:len(good) // 2], b""]):
            with open(a.path("guard.json"), "wb") as f:
                f.write(torn)
            rc, v, err = a.status()
            self.assertEqual(rc, 1, (v, err))
            self.assertIn("guard_unusable", v)
            self.assertEqual(H.read(a.path("guard.json"), "rb"), torn, "status changed it")
            self.assertEqual(len(os.listdir(qdir)) if os.path.isdir(qdir) else 0, n)
            starts = a.starts
            a.start(events="synthetic:200", confirm_after=1)
            a.wait(lambda: os.path.isdir(qdir) and len(os.listdir(qdir)) == n + 1, 20,
                   "guard.json moved to quarantine/")
            moved = sorted(os.listdir(qdir), key=lambda f: os.path.getmtime(
                os.path.join(qdir, f)))[-1]
            self.assertTrue(moved.startswith("guard.json"), moved)
            self.assertEqual(H.read(os.path.join(qdir, moved), "rb"), torn)
            a.wait_version(4, 30, lkg=4)
            self.assertTrue(a.alive())
            self.assertEqual(a.starts, starts + 1)
            self.assertIn("starting from an empty state", H.read_log(a.logs[-1]))
            a.stop_ok()
            self.assertEqual(a.guard()["format"], 1)


if __name__ == "__main__":
    unittest.main()
