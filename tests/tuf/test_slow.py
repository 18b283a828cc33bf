"""Slow retrieval: a mirror that trickles (1 byte/s) or withholds its headers
cannot hold the client past its time limits (--request-timeout 3
--total-timeout 6 here); nothing unverified is trusted or written."""

import unittest

from harness import SLOW_OPTS, TufTestCase

# A run must end well before this (the limits above, plus start-up).
BUDGET = 12.0
# The whole client run is killed after this long (the test then fails).
RUN_LIMIT = 20.0


class TestSlowRetrieval(TufTestCase):
    def setUp(self):
        super().setUp()
        self.setup_trusted()
        self.before = self.all_roles_trusted()

    def slow_run(self, target=None):
        if target:
            r = self.download(target, expect=1, extra=SLOW_OPTS, timeout=RUN_LIMIT)
        else:
            r = self.refresh(expect=1, extra=SLOW_OPTS, timeout=RUN_LIMIT)
        self.assertLess(r.secs, BUDGET, "the time limit did not stop the client")
        return r

    def test_trickled_timestamp(self):
        self.repo.publish_timestamp()
        self.fault("metadata/timestamp.json", trickle=1.0)
        self.slow_run()
        self.assert_trusted(self.before)

    def test_trickled_target(self):
        repo = self.repo
        repo.add_target("slow.bin", b"s" * 4096)
        repo.commit("targets")
        self.fault(repo.target_paths("slow.bin")[0], trickle=1.0)
        self.slow_run("slow.bin")
        self.assert_targets([])
        self.assert_trusted(self.all_roles_trusted())

    def test_headers_withheld(self):
        repo = self.repo
        repo.publish_snapshot()
        repo.publish_timestamp()
        self.fault(repo.metadata_path("snapshot", repo.version["snapshot"]),
                   header_delay=60.0)
        self.slow_run()
        self.assert_trusted(dict(self.before, timestamp=repo.version["timestamp"]))

    def test_total_time_limit(self):
        """Each answer within the request limit (2 s of 3), but together
        past the total limit of one refresh (6 s)."""
        repo = self.repo
        repo.commit("targets")
        for p in ("metadata/2.root.json", "metadata/timestamp.json",
                  repo.metadata_path("snapshot", repo.version["snapshot"]),
                  repo.metadata_path("targets", repo.version["targets"])):
            self.fault(p, header_delay=2.0, status=404 if "root" in p else None)
        r = self.slow_run()
        self.assertGreater(r.secs, 5.0)
        self.assertNotEqual(self.trusted_files()["targets.json"],
                            repo.history["targets"][repo.version["targets"]])

    def test_slow_but_within_limits_succeeds(self):
        repo = self.repo
        repo.commit("targets")
        self.fault("metadata/timestamp.json", header_delay=1.0)
        self.refresh(extra=SLOW_OPTS, timeout=RUN_LIMIT)
        self.assert_trusted(self.all_roles_trusted())


if __name__ == "__main__":
    unittest.main()
