"""test_refusal.py — content the agent's TUF root does not back is never
run, whoever serves it, and the agent keeps running what it has.

A real ringfenced serves the TUF repository (releases 4, then 6); a fake
control plane assigns content; agents that fetch TUF through a mirror get
what the mirror makes of it. Every agent first takes version 4 (through an
honest mirror) and confirms it; then release 6 is published, and each
agent is assigned 6 in its own hostile setting:

  (a) flip-target       the mirror flips one byte of the target file: the
                        download is refused, reported in the next check-in
                        (health.channels[].refused), 4 keeps running, the
                        inactive slot is never written
  (b) garbage-metadata  timestamp.json is garbage
      forged-timestamp  timestamp.json's signed version raised, signature kept
      forged-targets    the new targets.json with its hashes changed
      wrong-key         a timestamp signed by a key the root does not name
                        each time: the refresh fails, 4 keeps running; once
                        the mirror is honest again the agent takes 6
      evil root         an agent enrolled with another repository's root
                        never runs anything the real repository serves
  (c) an assignment the metadata does not back (channels/291/99.rfc), or
      that names a target whose signed custom metadata says another version
      or channel, or that is malformed: refused or ignored, reported, and the
      agent goes on checking in
  (d) a version below the highest trusted one (3 as "current" after 6 was
      confirmed; 4 as "rollback", which 4's signed metadata does not say it
      is): refused.
"""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib as A  # noqa: E402

H = A.H
MIRRORED = ("flip-target", "garbage-metadata", "forged-timestamp", "forged-targets",
            "wrong-key")


class RefusalTest(A.AgentCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv, cls.w = cls.class_server(bootstrap=False)
        cls.w.bootstrap({"vendor": (True, None)})
        A.release(cls.w, 4)
        cls.cp = cls.class_fake()
        cls.mirror = cls.class_mirror(lambda: cls.srv.port)
        # another repository, with keys of its own
        cls.evil = H.Fixture(prefix="rf-agent-evil-")
        cls.addClassCleanup(cls.evil.close)
        evil_ts = H.read(os.path.join(cls.evil.repo0, "public", "metadata", "timestamp.json"),
                         "rb")
        cls.evil_root = os.path.join(cls.evil.repo0, "public", "metadata", "1.root.json")
        root = os.path.join(cls.fx.dir, "root.json")
        A.fetch_root(cls.srv, root)
        cls.agents = {}
        for name in MIRRORED + ("plain", "lower"):
            a = A.RealAgent(cls.fx.new_dir(name), name)
            cls.addClassCleanup(a.retire)
            tuf = cls.mirror.url(name) if name in MIRRORED else None
            a.enroll_ok(cls.cp.url, "enroll-ok", root,
                        tuf_url=tuf or "http://127.0.0.1:%d/tuf" % cls.srv.port)
            tok = a.read_json("agent.json")["token"]
            cls.mirror.evil[name] = evil_ts
            cls.cp.assign[tok] = [A.assignment(4)]
            a.start(events="synthetic:200", confirm_after=1)
            cls.agents[name] = (a, tok)
        for a, _ in cls.agents.values():
            a.wait_version(4, 30, lkg=4)
        # the new release: new TUF metadata (timestamp, snapshot, targets)
        A.release(cls.w, 6, new=True)

    def check_on_4(self, a, tok, checkins_more=2):
        """It keeps evaluating events and checking in, on version 4 only."""
        ev, n = a.events(), self.cp.count(tok)
        a.wait(lambda: a.events() > ev and self.cp.count(tok) >= n + checkins_more, 20,
               "events and check-ins go on")
        c = a.chan()
        self.assertEqual((c["active_version"], c["lkg_version"], c["highest_trusted"]),
                         (4, 4, 4), c)
        self.assertNotIn("trial", c)
        self.assertEqual(a.running(), 4)
        self.assertTrue(a.alive())
        self.assertEqual(a.exits, [])
        self.assertFalse(os.path.exists(a.path("slots", "291", "b.rfc")),
                         "refused content was written to a slot")
        dl = a.path("download")
        self.assertEqual(os.listdir(dl) if os.path.isdir(dl) else [], [],
                         "refused content left in download/")

    def reported(self, tok, since, version, why_rx):
        """A check-in body after SINCE reporting VERSION refused; returns it."""
        def pred():
            for b in self.cp.bodies(tok, since):
                for c in b["health"].get("channels", []):
                    if c["channel"] == A.CHANNEL and c.get("refused") == version:
                        return c
            return None
        c = A.wait_for(pred, A.T(20), "a check-in reporting %d refused" % version)
        self.assertRegex(c["refused_why"], why_rx)
        return c

    # ---- (a), (b): a hostile mirror ----

    def hostile(self, mode, log_rx, heal):
        a, tok = self.agents[mode]
        since = time.monotonic()
        hits = dict(self.mirror.hits)
        self.mirror.mode[mode] = mode
        self.cp.assign[tok] = [A.assignment(6)]
        a.wait_log(log_rx, 20)
        self.check_on_4(a, tok)
        kind = "target" if mode == "flip-target" else "metadata"
        self.assertGreater(self.mirror.hits.get((mode, kind), 0), hits.get((mode, kind), 0))
        if heal:
            # the refusal was about what the mirror served: honest again, 6 comes
            self.mirror.mode[mode] = "pass"
            a.wait_version(6, 30, lkg=6)
        return a, tok, since

    def test_a_flipped_target(self):
        a, tok, since = self.hostile(
            "flip-target", r"channel 291 version 6 refused: download of channels/291/6\.rfc "
                           r"failed", heal=False)
        self.reported(tok, since, 6, r"download of channels/291/6\.rfc failed")
        self.assertEqual(a.run_json()["channels"][0]["refused"], 6)

    def test_b_garbage_timestamp(self):
        self.hostile("garbage-metadata", r"TUF: refresh failed, keeping the content that runs",
                     heal=True)

    def test_b_forged_timestamp(self):
        self.hostile("forged-timestamp", r"TUF: refresh failed, keeping the content that runs",
                     heal=True)

    def test_b_forged_targets(self):
        self.hostile("forged-targets", r"TUF: refresh failed, keeping the content that runs",
                     heal=True)

    def test_b_wrong_key(self):
        self.hostile("wrong-key", r"TUF: refresh failed, keeping the content that runs",
                     heal=True)

    def test_b_evil_root(self):
        a = self.agent("evil-root")
        a.enroll_ok(self.cp.url, "enroll-ok", self.evil_root,
                    tuf_url="http://127.0.0.1:%d/tuf" % self.srv.port)
        tok = a.read_json("agent.json")["token"]
        self.cp.assign[tok] = [A.assignment(4)]
        a.start(events="synthetic:200", confirm_after=1)
        a.wait_log(r"TUF: refresh failed", 20)
        a.wait(lambda: self.cp.count(tok) >= 3 and a.events() > 0, 20, "check-ins go on")
        self.assertEqual(a.st()["channels"], [])
        self.assertEqual(a.running(), 0)
        self.assertFalse(os.path.exists(a.path("slots")))
        self.assertIn("TUF refresh failed", a.run_json()["last_error"])

    # ---- (c): assignments the metadata does not back ----

    def test_c_unbacked_assignments(self):
        a, tok = self.agents["plain"]
        since = time.monotonic()
        self.cp.assign[tok] = [A.assignment(99)]
        a.wait_log(r"channel 291 version 99 refused: target channels/291/99\.rfc is not backed "
                   r"by the signed TUF metadata", 20)
        self.reported(tok, since, 99, r"not backed by the signed TUF metadata")
        self.check_on_4(a, tok, checkins_more=3)
        # a target that exists, for another version
        since = time.monotonic()
        self.cp.assign[tok] = [A.assignment(98, target="channels/291/4.rfc")]
        a.wait_log(r"channel 291 version 98 refused: the signed metadata of channels/291/4\.rfc "
                   r"does not say channel 291 version 98", 20)
        self.reported(tok, since, 98, r"does not say channel 291 version 98")
        # ... or for another channel
        self.cp.assign[tok] = [A.assignment(6, target="channels/291/6.rfc", channel=292)]
        a.wait_log(r"channel 292 version 6 refused: the signed metadata of channels/291/6\.rfc "
                   r"does not say channel 292 version 6", 20)
        # malformed assignments are ignored, and the check-ins go on
        self.cp.assign[tok] = [{"channel": "291", "content_version": 6, "kind": "release",
                                "target": "channels/291/6.rfc"},
                               {"channel": 291, "content_version": -1, "kind": "release",
                                "target": "channels/291/6.rfc"},
                               {"channel": 291, "content_version": 6, "target": 7}]
        a.wait_log(r"check-in: assignment 2 is malformed; ignored", 20)
        self.check_on_4(a, tok, checkins_more=2)
        self.assertFalse(os.path.exists(a.path("slots", "292")))
        self.assertEqual([c["channel"] for c in a.st()["channels"]], [A.CHANNEL])

    # ---- (d): below the highest trusted version ----

    def test_d_lower_than_trusted(self):
        a, tok = self.agents["lower"]
        self.cp.assign[tok] = [A.assignment(6)]
        a.wait_version(6, 30, lkg=6)
        self.assertEqual(a.chan()["highest_trusted"], 6)
        slots = {n: os.stat(a.path("slots", "291", n)).st_mtime_ns for n in ("a.rfc", "b.rfc")}
        since = time.monotonic()
        self.cp.assign[tok] = [A.assignment(3, kind="current")]
        a.wait_log(r"channel 291 version 3 refused: below version 6, the highest this host has "
                   r"trusted \(current\)", 20)
        self.reported(tok, since, 3, r"below version 6")
        # version 4 is signed, but not as a rollback
        since = time.monotonic()
        self.cp.assign[tok] = [A.assignment(4, kind="rollback")]
        a.wait_log(r"channel 291 version 4 refused: below version 6 and not signed as a "
                   r"rollback", 20)
        self.reported(tok, since, 4, r"not signed as a rollback")
        n = self.cp.count(tok)
        a.wait(lambda: self.cp.count(tok) >= n + 2, 20, "check-ins go on")
        c = a.chan()
        self.assertEqual((c["active_version"], c["lkg_version"], c["highest_trusted"]),
                         (6, 6, 6), c)
        self.assertEqual(a.running(), 6)
        # no slot was written
        self.assertEqual({n: os.stat(a.path("slots", "291", n)).st_mtime_ns
                          for n in ("a.rfc", "b.rfc")}, slots)
        self.assertEqual(len(re.findall(r"version 4 refused", a.log_text())), 1,
                         "a final refusal is not retried")


if __name__ == "__main__":
    unittest.main()
