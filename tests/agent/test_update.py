"""test_update.py — content reaches real agents through a real ringfenced's
rollouts and TUF repository.

One server, two agents (sensor 7.16.18605 enrolled before anything is
released, 7.11.18110 enrolled after release 4 completed). Release 4 rolls
out: the first agent takes it in its wave, the second as the channel's
current content; both confirm it (--confirm-after 2) and it becomes their
last-known-good. Release 6 (new content: one more instance) rolls out: both
end on 6 as last-known-good, in the other slot, with 4 still in the first.
status --json, guard.json, run.json and the slot files agree, and a restart
runs 6 from its slot with no network.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib as A  # noqa: E402

H = A.H


class UpdateTest(A.AgentCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Release 6 adds an instance that the synthetic events hit often:
        # a host on 6 detects about 4 times as much as one on 4 (12-14 vs 3
        # detections/s, measured from this test's detections.jsonl). Both
        # hosts are in one wave, and if one takes 6 a little before the
        # other, the detection test rightly sees a storm against the host
        # still on 4 and halts the release (seen once in a fresh-clone ASan
        # run: rolled back 2 s after the wave opened). It also costs a little
        # more per event, which the CPU test can see with two hosts. The
        # gates are not what this test is about, so those two are off here.
        cls.fx.plan = os.path.join(cls.fx.dir, "fast-no-cpu-no-detect.yaml")
        with open(cls.fx.plan, "w") as f:
            f.write(H.FAST_PLAN.replace(
                "waves:\n", "gates:\n  cpu_min_control: 1000000\n  detect_ratio: 1000000\n"
                "waves:\n", 1))
        cls.srv, cls.w = cls.class_server()

    def settle(self, roid, timeout=60):
        return A.wait_for(lambda: self.w.rollout(roid)["state"] != "running" and
                          self.w.rollout(roid), A.T(timeout), "rollout %d settled" % roid)

    def check_slots(self, a, active, lkg, other):
        """status, guard.json and the slot files agree: ACTIVE is the
        last-known-good LKG in its slot; the other slot holds OTHER."""
        v = a.st()
        c = a.chan(v)
        self.assertEqual((c["active_version"], c["lkg_version"], c["highest_trusted"]),
                         (active, lkg, active), c)
        self.assertEqual(c["active_slot"], c["lkg_slot"])
        self.assertNotIn("trial", c)
        self.assertEqual(c["bad"], [])
        g = a.guard()
        self.assertIsNotNone(g, "guard.json does not parse")
        gc = [x for x in g["channels"] if x["channel"] == A.CHANNEL]
        self.assertEqual(len(gc), 1, g)
        for slot, version in ((c["active_slot"], active),
                              ({"a": "b", "b": "a"}[c["active_slot"]], other)):
            p = a.path("slots", str(A.CHANNEL), slot + ".rfc")
            self.assertEqual(H.read(p, "rb"), A.content(self.fx, version, new=version == 6),
                             "slot %s does not hold version %d" % (slot, version))
            self.assertEqual(A.inspect(p)["content_version"], version)
        self.assertEqual(a.running(), active)
        return c

    def test_rollouts(self):
        a1 = self.enrolled(self.srv, self.w, "first", sensor="7.16.18605")
        a1.start(events="synthetic:200", confirm_after=2)
        # nothing is released yet: it checks in and runs no content
        a1.wait(lambda: a1.run_json().get("last_checkin_ok"), 30, "a first check-in")
        self.assertEqual(a1.st()["channels"], [])
        ev0 = a1.events()

        # release 4: the agent takes it in its wave, through TUF, on trial
        ro4 = self.w.start_rollout(A.release(self.w, 4))
        a1.wait_version(4, 30, lkg=4)
        log = a1.log_text()
        self.assertRegex(log, r"channel 291: version 4 active from slot a on trial \(release")
        self.assertRegex(log, r"channel 291: version 4 confirmed healthy")
        r4 = self.settle(ro4["id"])
        self.assertEqual(r4["state"], "complete", r4)
        self.assertEqual(r4["hosts"]["took"], 1)
        self.assertEqual(r4["hosts"]["reverted"], 0)

        # a host enrolled now gets the channel's current content
        a2 = self.enrolled(self.srv, self.w, "second", sensor="7.11.18110")
        a2.start(events="synthetic:200", confirm_after=2)
        a2.wait_version(4, 30, lkg=4)
        self.assertRegex(a2.log_text(), r"version 4 active from slot a on trial \(current")

        # release 6: both take it into slot b and confirm it
        ro6 = self.w.start_rollout(A.release(self.w, 6, new=True))
        for a in (a1, a2):
            a.wait_version(6, 40, lkg=6)
            self.assertRegex(a.log_text(), r"version 6 active from slot b on trial")
            self.check_slots(a, 6, 6, 4)
        r6 = self.settle(ro6["id"])
        self.assertEqual(r6["state"], "complete", r6)
        self.assertEqual(r6["hosts"]["took"], 2)

        # it evaluated events all along, and detected with both versions
        a1.wait(lambda: a1.events() > ev0, 10, "events counted")
        dets = a1.wait(lambda: {d["version"] for d in a1.detections()} >= {4, 6} and
                       a1.detections(), 20, "detections by versions 4 and 6")
        for d in dets:
            self.assertEqual(d["channel"], A.CHANNEL)
        self.assertIn(A.NEW_INSTANCE_ID, {d["instance"] for d in dets if d["version"] == 6})
        self.assertNotIn(A.NEW_INSTANCE_ID, {d["instance"] for d in dets if d["version"] == 4})

        # a restart runs 6 from its slot before any check-in
        for a in (a1, a2):
            a.stop_ok()
        self.srv.stop()
        try:
            a1.start(events="synthetic:200", confirm_after=2, max_backoff=1)
            a1.wait_log(r"running version 6 from slot b \(5 instances\)", 20)
            a1.wait(lambda: a1.events() > 0 and a1.running() == 6, 20,
                    "run.json: version 6 running with the server down")
            self.check_slots(a1, 6, 6, 4)
            a1.stop_ok()
        finally:
            self.srv.restart(timeout=A.T(30))


if __name__ == "__main__":
    unittest.main()
