"""test_outage.py — a control plane that is down, slow or broken never stops
the agent: it keeps evaluating events with the content it has, logs each
failed check-in with a back-off (--max-backoff 2 here), and checks in again
and reports once the server answers.

  server down   a real ringfenced stopped under a running agent, then
                restarted on the same port
  misbehaving   a fake control plane that answers HTTP 500, garbage with
                200, a valid but 2 MiB body, closes the connection without
                an answer, or says nothing for longer than the agent's 10 s
                request timeout; then answers again
"""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib as A  # noqa: E402

H = A.H
MAX_BACKOFF = 2
FAIL_RX = re.compile(r"\]: (check-in: .*); next check-in in ([0-9.]+) s \(failure (\d+)\), "
                     r"content keeps running")


class OutageTest(A.AgentCase):
    def failures(self, a, since_log=0):
        """(message, wait in s, failure number) of every failed check-in
        logged after offset SINCE_LOG of the log."""
        return [(m, float(s), int(n)) for m, s, n in FAIL_RX.findall(a.log_text()[since_log:])]

    def check_backoff(self, fails, base_s=1.0):
        """Consecutive failures numbered 1, 2, ... with waits in [base/2, cap]."""
        nums = [n for _m, _s, n in fails]
        self.assertEqual(nums, list(range(nums[0], nums[0] + len(nums))), fails)
        for m, s, n in fails:
            self.assertGreaterEqual(s, base_s / 2 - 1e-9, (m, s, n))
            self.assertLessEqual(s, MAX_BACKOFF + 1e-9, (m, s, n))

    def test_server_down(self):
        srv, w = self.server()
        a = self.enrolled(srv, w, "outage")
        a.start(events="synthetic:200", confirm_after=1, max_backoff=MAX_BACKOFF)
        ro = w.start_rollout(A.release(w, 4))
        a.wait_version(4, 30, lkg=4)
        srv.stop()
        mark = len(a.log_text())
        ev = a.events()
        fails = a.wait(lambda: len(self.failures(a, mark)) >= 4 and self.failures(a, mark), 30,
                       "four failed check-ins logged")
        self.assertEqual(fails[0][2], 1)
        self.check_backoff(fails)
        for m, _s, _n in fails:
            self.assertRegex(m, r"check-in: http://127\.0\.0\.1:%d/v1/checkin: " % srv.port)
        a.wait(lambda: a.events() > ev, 10, "events evaluated with the server down")
        rj = a.run_json()
        self.assertTrue(rj["last_error"].startswith("check-in:"), rj)
        self.assertTrue(a.alive())
        self.assertEqual(a.exits, [])
        self.assertEqual(a.running(), 4)
        # back: it checks in again and reports
        srv.restart(timeout=A.T(30))
        t_back = time.time()
        a.wait(lambda: a.run_json().get("last_checkin_ok", 0) >= int(t_back) and
               not a.run_json().get("last_error"), 20, "a check-in after the restart")
        A.wait_for(lambda: (srv.metric("ringfenced_checkins_total") or 0) >= 1, A.T(10),
                   "the server answered a check-in")
        self.assertEqual(a.running(), 4)
        # and takes content again, once release 4's rollout (which the
        # outage held up) has finished: a channel has one rollout at a time
        A.wait_for(lambda: w.rollout(ro["id"])["state"] != "running", A.T(60),
                   "rollout of release 4 settled")
        w.start_rollout(A.release(w, 6, new=True))
        a.wait_version(6, 30, lkg=6)

    def test_misbehaving_server(self):
        srv, w = self.server(bootstrap=False)  # TUF only
        w.bootstrap({"vendor": (True, None)})
        A.release(w, 4)
        cp = self.fake()
        cp.hang_s = 14.0
        a, tok = self.enrolled_fake(cp, srv, "broken")
        cp.assign[tok] = [A.assignment(4)]
        a.start(events="synthetic:200", confirm_after=1, max_backoff=MAX_BACKOFF)
        a.wait_version(4, 30, lkg=4)
        for mode, rx, n in (("http500", r"check-in: HTTP 500: the fake server is broken on "
                                        r"purpose", 3),
                            ("garbage", r"check-in: the answer is not a check-in answer", 2),
                            ("huge", r"answer larger than 1048576 bytes", 2),
                            ("down", r"check-in: http://127\.0\.0\.1:\d+/v1/checkin: ", 2),
                            ("hang", r"check-in: http://127\.0\.0\.1:\d+/v1/checkin: .*"
                                     r"(?i:time)", 1)):
            mark = len(a.log_text())
            ev = a.events()
            cp.mode[tok] = mode
            fails = a.wait(lambda: len(self.failures(a, mark)) >= n and self.failures(a, mark),
                           30, "%d failed check-ins with %s" % (n, mode))
            for m, _s, _n in fails:
                self.assertRegex(m, rx, mode)
            self.check_backoff(fails)
            a.wait(lambda: a.events() > ev, 20, "events go on (%s)" % mode)
            self.assertTrue(a.alive(), mode)
            self.assertEqual(a.exits, [], mode)
            self.assertEqual(a.running(), 4)
            if mode != "hang":
                cp.mode[tok] = "ok"
                a.wait(lambda: not a.run_json().get("last_error"), 20, "recovered from " + mode)
        # answers again: the next check-ins report, with the events counted meanwhile
        t = time.monotonic()
        cp.mode[tok] = "ok"
        ev = a.events()
        bodies = a.wait(lambda: len(cp.bodies(tok, t)) >= 2 and cp.bodies(tok, t), 30,
                        "check-ins after the hang")
        self.assertGreaterEqual(bodies[-1]["health"]["events"], ev)
        self.assertEqual(bodies[-1]["content"], [{"channel": A.CHANNEL, "version": 4,
                                                  "status": "active"}])
        a.wait(lambda: not a.run_json().get("last_error"), 20, "no error")
        # and it still takes content
        A.release(w, 6, new=True)
        cp.assign[tok] = [A.assignment(6)]
        a.wait_version(6, 30, lkg=6)


if __name__ == "__main__":
    unittest.main()
