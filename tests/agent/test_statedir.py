"""test_statedir.py — damage to the state directory and misuse of it.

  trial slot unreadable  the slot of the content on trial is damaged while
                         the agent is stopped: at the next start the trial
                         is reverted at once (no crash loop), its version
                         marked bad, and the last-known-good runs
  lkg slot unreadable    the slot of the last-known-good is damaged (a bit
                         flipped on disk) while the agent is stopped: the
                         slot is dropped, the version it is assigned is
                         fetched again through TUF and runs, and nothing is
                         held against that version
  two runs               a second `run` on the state directory of a running
                         agent exits 1 and changes nothing
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib as A  # noqa: E402

H = A.H


def flip_byte(path):
    b = bytearray(H.read(path, "rb"))
    b[len(b) // 2] ^= 0x01
    with open(path, "wb") as f:
        f.write(b)


class StateDirTest(A.AgentCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv, cls.w = cls.class_server(bootstrap=False)
        cls.w.bootstrap({"vendor": (True, None)})
        A.release(cls.w, 4)
        A.release(cls.w, 6, new=True)
        cls.cp = cls.class_fake()

    def on_4(self, name):
        a, tok = self.enrolled_fake(self.cp, self.srv, name)
        self.cp.assign[tok] = [A.assignment(4)]
        a.start(events="synthetic:200", confirm_after=1)
        a.wait_version(4, 30, lkg=4)
        return a, tok

    def test_trial_slot_unreadable(self):
        a, tok = self.on_4("trial-slot")
        a.stop_ok()
        self.cp.assign[tok] = [A.assignment(6)]
        a.start(events="synthetic:200", confirm_after=60)
        a.wait(lambda: a.chan().get("trial", {}).get("version") == 6 and a.running() == 6, 20,
               "6 on trial")
        a.stop_ok()
        flip_byte(a.path("slots", "291", "b.rfc"))
        a.start(events="synthetic:200", confirm_after=60)
        a.wait_log(r"the content on trial cannot be loaded: .*b\.rfc", 20)
        a.wait_log(r"boot guard: channel 291 version 6 reverted to 4 and marked bad", 20)
        a.wait(lambda: a.running() == 4, 20, "4 running")
        c = a.chan()
        self.assertEqual((c["active_version"], c["lkg_version"], c["bad"]), (4, 4, [6]), c)
        self.assertNotIn("trial", c)
        self.assertEqual([rc for _n, rc in a.exits], [0, 0], "it crashed")
        self.assertTrue(a.alive())
        self.assertEqual(len(a.logs), 3, "reverted at the first start, not after a crash loop")

    # An unreadable last-known-good slot (this test failed before
    # 38ced25): the agent used to run nothing for good, report version 4
    # load_failed at every check-in and ignore every assignment of 4. Now
    # the slot is dropped and the version fetched again through TUF.
    def test_lkg_slot_unreadable(self):
        a, tok = self.on_4("lkg-slot")
        a.stop_ok()
        flip_byte(a.path("slots", "291", "a.rfc"))
        a.start(events="synthetic:200", confirm_after=1)
        a.wait_log(r"the last-known-good content cannot be loaded", 20)
        a.wait_log(r"channel 291: slot dropped; version 4 is fetched again", 20)
        a.wait(lambda: a.running() == 4, 10, "version 4 fetched again and running")
        self.assertEqual(H.read(a.path("slots", "291", a.chan()["active_slot"] + ".rfc"), "rb"),
                         A.content(self.fx, 4))
        c = a.chan()
        self.assertEqual((c["active_version"], c["bad"], c["highest_trusted"]), (4, [], 4), c)
        a.wait(lambda: any(b["content"] == [{"channel": A.CHANNEL, "version": 4,
                                             "status": "active"}]
                           for b in self.cp.bodies(tok)[-2:]), 10, "reports 4 active")

    # Two agents on one state directory (this test failed before
    # 38ced25): both used to run, check in with one token, count boot-guard
    # starts and save guard.json over each other. Now the second exits 1.
    def test_two_runs_on_one_state_dir(self):
        a, tok = self.on_4("two-runs")
        guard = H.read(a.path("guard.json"), "rb")
        starts = a.run_json()["starts"]
        b = A.RealAgent(a.dir, "two-runs-second")
        b.state = a.state
        self.addCleanup(b.retire)
        b.start(events="synthetic:200", confirm_after=1, restart=False)
        A.wait_for(lambda: b.proc.poll() is not None, A.T(5), "the second run's exit",
                   lambda: b.log_tail())
        self.assertEqual(b.proc.returncode, 1,
                         "a second run on a state directory in use did not refuse")
        self.assertRegex(b.log_text(), r"is in use by another agent \(pid %d\); not starting" %
                         a.pid())
        self.assertEqual(H.read(a.path("guard.json"), "rb"), guard)
        self.assertEqual(a.run_json()["starts"], starts)
        self.assertTrue(a.alive())


if __name__ == "__main__":
    unittest.main()
