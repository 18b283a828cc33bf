"""Rollback attacks: an older version of any role, validly signed, is refused
(also by a new client process: trusted versions are persisted)."""

import os
import unittest

from harness import TufTestCase


class TestRollback(TufTestCase):
    def setUp(self):
        super().setUp()
        repo = self.make_repo()
        repo.delegate("targets", "d", paths=["d/*"])
        repo.add_target("d/a", b"delegated a", role="d")
        repo.commit("targets", "d")  # targets 2, d 1, snapshot 2, timestamp 2
        repo.add_target("d/b", b"delegated b", role="d")
        repo.commit("targets", "d")  # targets 3, d 2, snapshot 3, timestamp 3
        self.init()
        self.download("d/b")
        self.trusted = self.current()
        self.assertEqual(self.trusted, {"root": 1, "timestamp": 3, "snapshot": 3,
                                        "targets": 3, "d": 2})
        self.assert_trusted(self.trusted)
        self.server.clear_log()

    def test_timestamp_rollback(self):
        self.fault("metadata/timestamp.json", body=self.repo.history["timestamp"][2])
        self.refused_twice(self.trusted)
        self.fault("metadata/timestamp.json", body=self.repo.history["timestamp"][1])
        self.refused_twice(self.trusted)
        self.server.clear_faults()
        self.refresh()
        self.assert_trusted(self.trusted)

    def test_snapshot_rollback_in_new_timestamp(self):
        """A newer timestamp naming an older snapshot (5.4.3.2)."""
        self.repo.publish_timestamp(snapshot_version=2)
        self.refused_twice(self.trusted)
        self.assertNotIn("metadata/2.snapshot.json", self.requests())

    def test_targets_rollback_in_new_snapshot(self):
        """A newer snapshot naming an older targets version (5.5.5)."""
        repo = self.repo
        meta = repo.snapshot_meta()
        meta["targets.json"] = {"version": 2}
        repo.publish_snapshot(meta=meta)
        repo.publish_timestamp()
        self.refused_twice(dict(self.trusted, timestamp=4))
        self.assertNotIn("metadata/2.targets.json", self.requests())

    def test_delegated_rollback_in_new_snapshot(self):
        repo = self.repo
        meta = repo.snapshot_meta()
        meta["d.json"] = {"version": 1}
        repo.publish_snapshot(meta=meta)
        repo.publish_timestamp()
        self.refused_twice(dict(self.trusted, timestamp=4), download="d/a")
        self.assert_targets(["d/b"])

    def test_delegated_role_missing_from_new_snapshot(self):
        repo = self.repo
        meta = repo.snapshot_meta()
        del meta["d.json"]
        repo.publish_snapshot(meta=meta)
        repo.publish_timestamp()
        self.refused_twice(dict(self.trusted, timestamp=4), download="d/a")

    def test_root_rollback(self):
        repo = self.repo
        repo.publish_root()  # 2
        self.refresh()
        self.trusted["root"] = 2
        self.assert_trusted(self.trusted)
        repo.publish_root()  # 3, but serve older roots in its place
        for old in (1, 2):
            with self.subTest(served=old):
                self.fault("metadata/3.root.json", body=repo.history["root"][old])
                self.refused_twice(self.trusted)
        self.server.clear_faults()
        self.refresh()
        self.trusted["root"] = 3
        self.assert_trusted(self.trusted)


class TestRollbackFreshClient(TufTestCase):
    def test_snapshot_rollback_not_consistent(self):
        repo = self.make_repo(consistent_snapshot=False)
        repo.commit("targets")
        self.init()
        self.refresh()
        old = repo.files["metadata/snapshot.json"]
        repo.commit("targets")
        self.fault("metadata/snapshot.json", body=old)
        self.refresh(expect=1)
        want = {"root": 1, "timestamp": 3, "snapshot": 2, "targets": 2}
        self.assert_trusted(want)
        self.refresh(expect=1)
        self.assert_trusted(want)

    def test_rollback_after_restart_with_only_root_and_timestamp_trusted(self):
        """The timestamp version alone, persisted, stops a rollback."""
        repo = self.make_repo()
        repo.commit("targets")
        repo.commit("targets")
        self.init()
        self.refresh()
        for f in ("snapshot.json", "targets.json"):
            os.unlink(os.path.join(self.mdir, f))
        self.fault("metadata/timestamp.json", body=repo.history["timestamp"][1])
        self.refresh(expect=1)
        self.assert_trusted({"root": 1, "timestamp": 3})


if __name__ == "__main__":
    unittest.main()
