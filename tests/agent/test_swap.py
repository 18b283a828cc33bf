"""test_swap.py — a swap of content under a stream of events drops no event
and evaluates none twice.

The events are 200,000 IPC events of the channel-291 shape for sensor
7.16.18605: the corpus's events of that sensor (a fifth of them match one of
version 4's instances) and variants that only the new content's instance
matches (a pipe served from a user's AppData), in a seeded random order.
`ringfence eval` of every distinct line with both versions is the oracle.

  stdin    the test feeds the agent's standard input: 80,000 events at full
           speed on version 4, then a trickle while the control plane (a
           fake one, content through the real server's TUF) assigns version
           6 and the agent swaps, then the rest. So the swap happens mid-stream
           whatever the build's speed.
  replay   replay:FILE of the same events, with version 6 assigned at the
           first check-in (the swap lands wherever it lands).

Either way: run.json's "events" is exactly the number of lines; no (event,
instance) is detected twice; the detections' versions are monotone in the
event sequence number (4, then 6); and there is a swap point S such that
every event up to S has exactly version 4's detections and every event
after it exactly version 6's.
"""

import json
import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib as A  # noqa: E402

H = A.H
N_EVENTS = 200000


class SwapTest(A.AgentCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv, cls.w = cls.class_server()
        A.release(cls.w, 4)
        A.release(cls.w, 6, new=True)
        cls.fake_cp = cls.class_fake()
        cls.make_events()

    @classmethod
    def make_events(cls):
        corpus = os.path.join(H.CHANNEL_DIR, "corpus", "ipc-events.jsonl")
        base = [l for l in H.read(corpus).splitlines() if '"sensor_version":"%s"' % A.SENSOR in l]
        assert len(base) >= 50, len(base)
        # variants served from AppData: only the new instance matches them
        extra = []
        for l in base[:40]:
            o = json.loads(l)
            o["inputs"][12] = A.APPDATA_IMAGE
            extra.append(json.dumps(o, separators=(",", ":")))
        cls.base = base + extra
        p = os.path.join(cls.fx.dir, "base.jsonl")
        with open(p, "w") as f:
            f.write("\n".join(cls.base) + "\n")
        cls.oracle = {}
        for v in (4, 6):
            out = H.run([H.RINGFENCE, "-C", H.CHANNEL_DIR, "eval", A.content_path(cls.fx, v, v == 6),
                         "--sensor", A.SENSOR, p], check=False)
            assert out.returncode == 0, out.stderr
            m = [frozenset() for _ in cls.base]
            for line in out.stdout.splitlines():
                o = json.loads(line)
                m[o["line"] - 1] = frozenset(x["id"] for x in o["matches"])
            cls.oracle[v] = m
        # the two versions must tell apart: some lines only 6 matches
        only6 = [i for i in range(len(cls.base)) if cls.oracle[6][i] - cls.oracle[4][i]]
        assert only6 and any(cls.oracle[4]), "the oracle does not tell 4 from 6"
        rng = random.Random(291)
        cls.idx = [rng.randrange(len(cls.base)) for _ in range(N_EVENTS)]
        cls.lines = [(cls.base[i] + "\n").encode() for i in cls.idx]

    def start_on_v4(self, name, events, **kw):
        a, tok = self.enrolled_fake(self.fake_cp, self.srv, name)
        self.fake_cp.assign[tok] = [A.assignment(4)]
        a.start(events=events, confirm_after=1, restart=False, **kw)
        return a, tok

    def check(self, a, S_min=0, both=True):
        """The detections against the oracle; returns the swap point (with
        BOTH, each version must have detected something)."""
        rj = a.run_json()
        self.assertEqual(rj["events"], N_EVENTS, "events dropped or counted twice")
        self.assertEqual((rj["source_bad"], rj["input_refused"]), (0, 0))
        dets = a.detections()
        self.assertEqual(rj["detections"], len(dets))
        seen = set()
        by_seq = {}
        for d in dets:
            k = (d["event"], d["instance"])
            self.assertNotIn(k, seen, "event %d evaluated twice by %s" % k)
            seen.add(k)
            self.assertIn(d["version"], (4, 6), d)
            self.assertTrue(1 <= d["event"] <= N_EVENTS, d)
            by_seq.setdefault(d["event"], set()).add((d["version"], d["instance"]))
        v4 = [d["event"] for d in dets if d["version"] == 4]
        v6 = [d["event"] for d in dets if d["version"] == 6]
        if both:
            self.assertTrue(v4 and v6, "no detections by one of the versions (%d, %d)" %
                            (len(v4), len(v6)))
        last4, first6 = max(v4 or [0]), min(v6 or [N_EVENTS + 1])
        self.assertLess(last4, first6, "a detection by version 4 after one by version 6")
        # a swap point S in [last4, first6) that the oracle agrees with
        good = None
        for S in range(last4, first6):
            if all(not self.oracle[4][self.idx[s - 1]] for s in range(last4 + 1, S + 1)) and \
               all(not self.oracle[6][self.idx[s - 1]] for s in range(S + 1, first6)):
                good = S
                break
        self.assertIsNotNone(good, "no swap point between events %d and %d" % (last4, first6))
        missing = []
        for s in range(1, N_EVENTS + 1):
            v = 4 if s <= good else 6
            want = {(v, i) for i in self.oracle[v][self.idx[s - 1]]}
            if by_seq.get(s, set()) != want:
                missing.append((s, sorted(want), sorted(by_seq.get(s, set()))))
        self.assertEqual(missing[:10], [], "%d events with the wrong detections" % len(missing))
        self.assertGreaterEqual(good, S_min)
        if both:
            self.assertLess(good, N_EVENTS)
        return good

    def test_stdin(self):
        a, tok = self.start_on_v4("stdin", "stdin", stdin=True)
        a.wait_version(4, 30, lkg=4)
        f = a.proc.stdin
        i = 0
        first = 80000
        while i < first:
            f.write(b"".join(self.lines[i:i + 5000]))
            i += 5000
        f.flush()
        self.fake_cp.assign[tok] = [A.assignment(6)]
        # a trickle until the agent has swapped, then a little more
        end = time.monotonic() + A.T(60)
        swapped_at = None
        while i < N_EVENTS - 20000 and time.monotonic() < end:
            f.write(b"".join(self.lines[i:i + 100]))
            f.flush()
            i += 100
            time.sleep(0.01)
            if i % 2000 == 0 and swapped_at is None and \
                    "version 6 active from slot b" in a.log_text():
                swapped_at = i
            if swapped_at is not None and i >= swapped_at + 2000:
                break
        self.assertIsNotNone(swapped_at, "no swap within the trickle\n" + a.log_tail())
        while i < N_EVENTS:
            f.write(b"".join(self.lines[i:i + 5000]))
            i += 5000
        f.close()
        a.wait(lambda: a.run_json().get("source_ended") and a.run_json()["events"] == N_EVENTS,
               60, "every event evaluated")
        a.stop_ok()
        S = self.check(a, S_min=first)
        self.assertLessEqual(S, swapped_at)
        A.log("stdin: swap after event %d (fed %d when the log said so)" % (S, swapped_at))
        self.assertEqual(a.chan()["active_version"], 6)

    def test_replay(self):
        p = os.path.join(self.fx.dir, "events.jsonl")
        with open(p, "wb") as f:
            f.write(b"".join(self.lines))
        a, tok = self.start_on_v4("replay", "none")
        a.wait_version(4, 30, lkg=4)
        a.stop_ok()
        self.fake_cp.assign[tok] = [A.assignment(6)]
        a.start(events="replay:" + p, confirm_after=1, restart=False)
        a.wait(lambda: a.run_json().get("source_ended") and a.running() == 6, 60,
               "the replay at its end, version 6 running")
        a.stop_ok()
        os.unlink(p)
        S = self.check(a, both=False)
        A.log("replay: swap after event %d" % S)


if __name__ == "__main__":
    unittest.main()
