"""Mix-and-match attacks: validly signed files of different versions combined.
A file must be the version (and, where listed, the length and hashes) that
the metadata above it names."""

import unittest

from harness import TufTestCase
from reposim import envelope, parse_signed


class TestMixAndMatch(TufTestCase):
    def prepare(self, **kw):
        repo = self.make_repo(**kw)
        repo.delegate("targets", "d", paths=["d/*"])
        repo.add_target("d/a", b"a", role="d")
        repo.commit("targets", "d")  # targets 2, d 1, snapshot 2, timestamp 2
        self.init()
        self.download("d/a")
        self.assert_trusted(self.current())
        repo.add_target("d/b", b"b", role="d")
        repo.add_target("t", b"t")
        repo.commit("targets", "d")  # targets 3, d 2, snapshot 3, timestamp 3
        return repo

    def fails_then_recovers(self, path, body, expected, download=None):
        self.fault(path, body=body)
        self.refused_twice(expected, download)
        self.server.clear_faults()
        if download:
            self.download(download)
        else:
            self.refresh()

    def test_old_targets_served_for_new_version(self):
        repo = self.prepare()
        self.fails_then_recovers("metadata/3.targets.json", repo.history["targets"][2],
                                 {"root": 1, "timestamp": 3, "snapshot": 3, "targets": 2,
                                  "d": 1})
        self.assert_trusted(dict(self.current(), d=1))

    def test_old_snapshot_served_for_new_version(self):
        repo = self.prepare()
        self.fails_then_recovers("metadata/3.snapshot.json", repo.history["snapshot"][2],
                                 {"root": 1, "timestamp": 3, "snapshot": 2, "targets": 2,
                                  "d": 1})

    def test_old_delegated_served_for_new_version(self):
        repo = self.prepare()
        self.fails_then_recovers("metadata/2.d.json", repo.history["d"][1],
                                 dict(self.current(), d=1), download="d/b")
        self.assert_trusted(self.current())
        self.assert_targets(["d/a", "d/b"])

    def test_new_targets_with_old_snapshot_not_consistent(self):
        repo = self.make_repo(consistent_snapshot=False)
        self.init()
        self.refresh()
        repo.add_target("t", b"t")
        repo.publish_targets()  # targets 2 served, snapshot still names 1
        self.download("t", expect=1)
        self.assert_trusted({"root": 1, "timestamp": 1, "snapshot": 1, "targets": 1})
        self.assert_targets([])
        repo.publish_snapshot()
        repo.publish_timestamp()
        self.download("t")
        self.assert_targets(["t"])

    def test_snapshot_same_version_other_content(self):
        """The timestamp lists the snapshot's hashes: another validly signed
        snapshot of the same version does not match them."""
        repo = self.prepare(timestamp_hashes=True)
        signed = parse_signed(repo.history["snapshot"][3])
        signed["meta"]["targets.json"]["version"] = 2
        other = envelope(signed, repo.signers("snapshot"))
        self.fails_then_recovers("metadata/3.snapshot.json", other,
                                 {"root": 1, "timestamp": 3, "snapshot": 2, "targets": 2,
                                  "d": 1})

    def test_targets_same_version_other_content(self):
        """The snapshot lists the targets' hashes."""
        repo = self.prepare(snapshot_hashes=True)
        signed = parse_signed(repo.history["targets"][3])
        signed["targets"] = {}
        other = envelope(signed, repo.signers("targets"))
        self.fails_then_recovers("metadata/3.targets.json", other,
                                 {"root": 1, "timestamp": 3, "snapshot": 3, "targets": 2,
                                  "d": 1})

    def test_snapshot_longer_than_listed(self):
        """Same signed content, padded: more bytes than the timestamp lists."""
        repo = self.prepare(timestamp_hashes=True)
        self.fails_then_recovers("metadata/3.snapshot.json",
                                 repo.history["snapshot"][3] + b" " * 64,
                                 {"root": 1, "timestamp": 3, "snapshot": 2, "targets": 2,
                                  "d": 1})

    def test_file_of_another_role(self):
        """A validly signed snapshot served as the timestamp, targets as the
        snapshot, with one key for all of those roles."""
        repo = self.make_repo()
        key = repo.keys["timestamp"][0]
        for r in ("snapshot", "targets"):
            repo.rotate(r, [key])
        repo.publish_root()
        repo.commit("targets")
        self.init()
        self.refresh()
        want = self.all_roles_trusted()
        repo.commit("targets")
        self.fault("metadata/timestamp.json", body=repo.history["snapshot"][3])
        self.refresh(expect=1)
        self.assert_trusted(want)
        self.server.clear_faults()
        self.fault("metadata/3.snapshot.json", body=repo.history["targets"][3])
        self.refresh(expect=1)
        self.assert_trusted(dict(want, timestamp=3))


if __name__ == "__main__":
    unittest.main()
