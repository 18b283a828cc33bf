"""test_restart.py — kill -9 of ringfenced at random moments while a rollout
runs, and a restart on the same SQLite database each time.

What must hold (docs/design-server.md, "The rollout log: how the engine
survives kill -9"): the rollout goes on from where it was and completes;
every decision recorded before a kill is still there afterwards with the
same seq and content, and none is recorded twice (a replay reaches the same
decisions); the audit chain verifies after every restart and loses nothing
(every entry seen before a kill is still there with the same hash, the count
never goes down).

The kill moments are drawn from a seeded generator: RF_TEST_SEED=N replays a
run (the seed is in every failure message).
"""

import os
import random
import re
import threading
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

COUNTS = {"vendor": 8, "acme": 8, "early": 4, "pinned": 2, "paused": 2}
MIN_KILLS = 5


class RestartTest(H.ServerCase):
    def test_kill9_during_a_rollout(self):
        seed = int(os.environ.get("RF_TEST_SEED") or random.SystemRandom().randrange(1 << 30))
        rng = random.Random(seed)
        tag = "(RF_TEST_SEED=%d)" % seed
        sys.stderr.write("\ntest_restart: %s\n" % tag)

        srv = self.server(name="restart")
        admin = srv.init()
        srv.start()
        w = H.World(srv, admin, self.fx).bootstrap(
            {k: v for k, v in H.TENANTS.items() if k in COUNTS})
        agents = w.enroll(COUNTS)
        fleet = H.Fleet(agents, srv)
        fleet.round()
        rid = w.release(4)
        roid = w.start_rollout(rid)["id"]

        seen_decisions = {}   # seq -> decision, as read before some kill
        seen_audit = {}       # seq -> hash
        last_wave = [0]
        kills = []

        def wave_of(r):
            return [x["current"] for x in r["waves"]].index(True)

        def observe(when):
            """Read decisions and audit; check them against what was seen."""
            r = w.rollout(roid)
            for d in r["decisions"]:
                if d["seq"] in seen_decisions:
                    self.assertEqual(d, seen_decisions[d["seq"]],
                                     "decision %d changed %s %s" % (d["seq"], when, tag))
            got = {d["seq"] for d in r["decisions"]}
            lost = set(seen_decisions) - got
            self.assertFalse(lost, "decisions %s lost %s %s" % (sorted(lost), when, tag))
            for d in r["decisions"]:
                seen_decisions[d["seq"]] = d
            acts = [d["action"] for d in r["decisions"]]
            self.assertEqual(acts, ["promote"] * acts.count("promote") +
                             ["complete"] * acts.count("complete"),
                             "decisions out of order or repeated %s %s" % (when, tag))
            self.assertGreaterEqual(wave_of(r), last_wave[0], "went back a wave %s %s" %
                                    (when, tag))
            last_wave[0] = wave_of(r)
            entries = srv.audit_all(admin)
            seqs = [e["seq"] for e in entries]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "audit gap %s %s" % (when, tag))
            self.assertGreaterEqual(len(entries), len(seen_audit),
                                    "audit shrank %s %s" % (when, tag))
            for e in entries:
                if e["seq"] in seen_audit:
                    self.assertEqual(e["hash"], seen_audit[e["seq"]],
                                     "audit entry %d rewritten %s %s" % (e["seq"], when, tag))
                seen_audit[e["seq"]] = e["hash"]
            return r

        errors = []
        stop = threading.Event()

        def killer():
            """Kill at moments drawn from the seed, independent of the
            agents' rounds and the server's ticks."""
            try:
                while len(kills) < 12:
                    if stop.wait(rng.uniform(0.2, 2.0)):
                        return
                    observe("before kill %d" % (len(kills) + 1))
                    srv.kill9()
                    kills.append(time.monotonic())
                    rc, out = H.audit_verify(srv.db)
                    self.assertEqual(rc, 0, "audit verify after kill %d %s:\n%s" %
                                     (len(kills), tag, out))
                    m = re.search(r"(\d+) entries", out)
                    self.assertTrue(m, out)
                    self.assertGreaterEqual(int(m.group(1)), len(seen_audit), out)
                    srv.restart()
                    r = observe("after restart %d" % len(kills))
                    self.assertIn(r["state"], ("running", "complete"), tag)
            except BaseException as e:  # handed to the main thread
                errors.append(e)

        kt = threading.Thread(target=killer, daemon=True)
        kt.start()

        def finished():
            if errors:
                raise errors[0]
            if len(kills) < MIN_KILLS or not srv.alive():
                return None
            try:
                r = w.rollout(roid)
            except (OSError, AssertionError):
                return None  # killed meanwhile
            return r if r["state"] != "running" else None
        try:
            r = fleet.run_until(finished, 80, "the rollout completing through %d kills %s" %
                                (MIN_KILLS, tag))
        finally:
            stop.set()
            kt.join(60)
        if errors:
            raise errors[0]
        self.assertFalse(kt.is_alive(), "the killer thread hangs " + tag)
        self.assertGreaterEqual(len(kills), MIN_KILLS, tag)
        if not srv.alive():
            srv.restart()
        self.assertEqual(r["state"], "complete", "%s %s" % (r, tag))
        r = observe("at the end")
        acts = [d["action"] for d in r["decisions"]]
        self.assertEqual(acts, ["promote"] * (len(r["waves"]) - 1) + ["complete"], tag)
        # the fleet is where a rollout without kills would have left it
        fleet.round()
        for a in agents:
            want = {"paused": 0}.get(a.tenant, 4)
            self.assertEqual(a.v(), want, "%s %s" % (a.hostname, tag))
        h = r["hosts"]
        self.assertEqual(h["took"], COUNTS["vendor"] + COUNTS["acme"] + COUNTS["early"], tag)
        self.assertEqual((h["silent_after_taking"], h["reverted"]), (0, 0), tag)
        self.assertFalse(r["halted_by_gate"], tag)
        # a clean stop and a last restart: the same rollout, decisions and chain
        self.assertEqual(srv.stop(), 0)
        srv.restart()
        observe("after a clean restart")
        self.assertEqual(w.rollout(roid)["state"], "complete")
        self.assertAuditVerifies(srv.db, "at the end " + tag)
        sys.stderr.write("test_restart: %d kills, %d decisions, %d audit entries %s\n" %
                         (len(kills), len(seen_decisions), len(seen_audit), tag))


if __name__ == "__main__":
    unittest.main()
