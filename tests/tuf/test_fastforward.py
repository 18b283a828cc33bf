"""Fast-forward attacks: a compromised online key (timestamp, snapshot) signs a
huge version (2**62), which blocks every later genuine version as a rollback
until root rotates the compromised key; then the client recovers, because
the trusted timestamp and snapshot are dropped when their keys rotate
(specification 5.3.11)."""

import unittest

from harness import IS_TUFJS, TufTestCase
from reposim import Key

# tuf-js parses JSON integers as doubles, so above 2**53 its canonical form
# of the signed object differs from the signer's and signatures fail: it is
# proved with the largest exact integer instead. Every other client gets 2**62.
HUGE = 2 ** 53 - 1 if IS_TUFJS else 2 ** 62


class TestFastForward(TufTestCase):
    def test_timestamp_fast_forward_and_recovery(self):
        repo = self.setup_trusted()
        repo.publish_timestamp(version=HUGE)
        self.refresh()  # validly signed: the client cannot know better
        self.assert_trusted({"root": 1, "timestamp": HUGE, "snapshot": 1, "targets": 1})
        repo.publish_timestamp(version=2)
        self.refresh(expect=1)
        self.assert_trusted({"root": 1, "timestamp": HUGE, "snapshot": 1, "targets": 1})
        repo.rotate("timestamp", [Key()])
        repo.publish_root()
        repo.publish_timestamp(version=3)
        self.refresh()
        self.assert_trusted({"root": 2, "timestamp": 3, "snapshot": 1, "targets": 1})

    def test_snapshot_fast_forward_and_recovery(self):
        repo = self.setup_trusted()
        repo.publish_snapshot(version=HUGE)
        repo.publish_timestamp(snapshot_version=HUGE)
        self.refresh()
        self.assert_trusted({"root": 1, "timestamp": 2, "snapshot": HUGE, "targets": 1})
        repo.publish_snapshot(version=2)
        repo.publish_timestamp(snapshot_version=2)
        self.refresh(expect=1)
        self.assert_trusted({"root": 1, "timestamp": 2, "snapshot": HUGE, "targets": 1})
        repo.rotate("snapshot", [Key()])
        repo.rotate("timestamp", [Key()])
        repo.publish_root()
        repo.publish_snapshot(version=2)
        repo.publish_timestamp(version=1, snapshot_version=2)
        self.refresh()
        self.assert_trusted({"root": 2, "timestamp": 1, "snapshot": 2, "targets": 1})

    def test_snapshot_fast_forward_recovery_rotating_only_snapshot_key(self):
        """Rotating the snapshot key alone drops the trusted timestamp too:
        its snapshot version would block every genuine snapshot."""
        repo = self.setup_trusted()
        repo.publish_snapshot(version=HUGE)
        repo.publish_timestamp(snapshot_version=HUGE)  # timestamp 2
        self.refresh()
        repo.rotate("snapshot", [Key()])
        repo.publish_root()
        repo.publish_snapshot(version=2)
        repo.publish_timestamp(version=3, snapshot_version=2)
        self.refresh()
        self.assert_trusted({"root": 2, "timestamp": 3, "snapshot": 2, "targets": 1})

    def test_targets_fast_forward_through_snapshot_and_recovery(self):
        """The snapshot key names targets version 2**62: the next genuine
        snapshot looks like a targets rollback until the key rotates."""
        repo = self.setup_trusted()
        meta = repo.snapshot_meta()
        meta["targets.json"] = {"version": HUGE}
        repo.publish_snapshot(meta=meta)  # snapshot 2
        repo.publish_timestamp()          # timestamp 2
        self.refresh(expect=1)            # no such targets file
        self.assert_trusted({"root": 1, "timestamp": 2, "snapshot": 2, "targets": 1})
        repo.add_target("t", b"t")
        repo.commit("targets")            # targets 2, snapshot 3, timestamp 3
        self.refresh(expect=1)
        self.assert_trusted({"root": 1, "timestamp": 3, "snapshot": 2, "targets": 1})
        repo.rotate("snapshot", [Key()])
        repo.publish_root()
        repo.publish_snapshot()           # snapshot 4, new key
        repo.publish_timestamp()          # timestamp 4
        self.download("t")
        self.assert_trusted({"root": 2, "timestamp": 4, "snapshot": 4, "targets": 2})
        self.assert_targets(["t"])

    def test_rotation_drops_trusted_timestamp_and_snapshot(self):
        """After a root rotating the timestamp key, the old timestamp and
        snapshot are no longer trusted: they are deleted even when the new
        timestamp cannot be had."""
        repo = self.setup_trusted()
        repo.rotate("timestamp", [Key()])
        repo.publish_root()
        self.fault("metadata/timestamp.json", status=404)
        self.refresh(expect=1)
        self.assert_trusted({"root": 2, "targets": 1})
        self.server.clear_faults()
        repo.publish_timestamp()
        self.refresh()
        self.assert_trusted({"root": 2, "timestamp": 2, "snapshot": 1, "targets": 1})

    def test_no_rotation_keeps_trusted_timestamp(self):
        """A new root that keeps the timestamp and snapshot keys keeps
        their trusted files (and so their rollback protection)."""
        repo = self.setup_trusted()
        repo.publish_timestamp()  # 2
        self.refresh()
        repo.rotate("targets", [Key()])
        repo.publish_root()
        repo.publish_targets()
        repo.publish_snapshot()
        self.fault("metadata/timestamp.json", body=repo.history["timestamp"][1])
        self.refresh(expect=1)
        self.assert_trusted({"root": 2, "timestamp": 2, "snapshot": 1, "targets": 1})


if __name__ == "__main__":
    unittest.main()
