"""Root rotation (specification 5.3): each new root version is fetched one at a
time and must be signed by a threshold of the previous root's keys and by a
threshold of its own; at most 256 new versions are taken per update."""

import unittest

from harness import TufTestCase
from reposim import Key, expiry

MAX_ROTATIONS = 256


class TestRootRotation(TufTestCase):
    def test_one_version_at_a_time(self):
        repo = self.setup_trusted()
        repo.rotate("root", [Key()])
        repo.publish_root()                 # 2: new key, signed by old and new
        repo.rotate("root", [Key("ecdsa"), Key(), Key()], threshold=2)
        repo.publish_root()                 # 3: three keys, threshold 2
        repo.rotate("root", [Key("rsa")], threshold=1)
        repo.publish_root()                 # 4: signed by two of 3's keys and the new
        self.refresh()
        self.assert_trusted(dict(self.all_roles_trusted(), root=4))
        self.assertEqual(self.requests()[:5], ["metadata/2.root.json", "metadata/3.root.json",
                                               "metadata/4.root.json", "metadata/5.root.json",
                                               "metadata/timestamp.json"])

    def test_new_root_not_signed_by_old_threshold(self):
        repo = self.setup_trusted()
        old = repo.keys["root"]
        new = [Key()]
        repo.rotate("root", new)
        repo.publish_root(keys=new)
        self.refresh(expect=1)
        self.assert_trusted(dict(self.all_roles_trusted(), root=1))
        self.assertEqual(self.requests(), ["metadata/2.root.json"])
        repo.publish_root(version=2, keys=new + old)
        self.refresh()
        self.assert_trusted(dict(self.all_roles_trusted(), root=2))

    def test_new_root_below_old_threshold(self):
        repo = self.setup_trusted()
        old = [Key(), Key(), Key()]
        repo.rotate("root", old, threshold=2)
        repo.publish_root()  # 2: threshold 2 of 3 (signed by the old key and two new)
        self.refresh()
        new = [Key()]
        repo.rotate("root", new, threshold=1)
        repo.publish_root(keys=new + old[:1])  # 3: only one of the two needed
        self.refresh(expect=1)
        self.assert_trusted(dict(self.all_roles_trusted(), root=2))
        repo.publish_root(version=3, keys=new + old[1:])
        self.refresh()
        self.assert_trusted(dict(self.all_roles_trusted(), root=3))

    def test_new_root_not_signed_by_itself(self):
        repo = self.setup_trusted()
        old = repo.keys["root"]
        repo.rotate("root", [Key()])
        repo.publish_root(keys=old)
        self.refresh(expect=1)
        self.assert_trusted(dict(self.all_roles_trusted(), root=1))

    def test_new_root_with_wrong_version(self):
        repo = self.setup_trusted()
        repo.publish_root(version=3, serve=False)
        self.fault("metadata/2.root.json", body=repo.history["root"][3])
        self.refresh(expect=1)
        self.assert_trusted(dict(self.all_roles_trusted(), root=1))

    def test_expired_intermediate_root(self):
        """Only the final root must be unexpired."""
        repo = self.setup_trusted()
        repo.publish_root(expires=expiry(-1))
        repo.publish_root()
        self.refresh()
        self.assert_trusted(dict(self.all_roles_trusted(), root=3))

    def test_expired_final_root(self):
        repo = self.setup_trusted()
        repo.publish_root(expires=expiry(-1))
        self.refresh(expect=1)
        self.assert_trusted(dict(self.all_roles_trusted(), root=2))

    def test_server_error_is_not_end_of_roots(self):
        """Only 404 (or 403) ends the search for newer roots."""
        repo = self.setup_trusted()
        repo.publish_root()
        repo.publish_root()
        self.fault("metadata/3.root.json", status=500)
        self.refresh(expect=1)
        self.assertNotIn("metadata/timestamp.json", self.requests())
        self.assert_trusted(dict(self.all_roles_trusted(), root=2))
        self.server.clear_faults()
        self.refresh()
        self.assert_trusted(dict(self.all_roles_trusted(), root=3))

    def test_rotated_targets_key(self):
        repo = self.setup_trusted()
        old = repo.keys["targets"]
        repo.rotate("targets", [Key("ecdsa")])
        repo.publish_root()
        repo.add_target("t", b"t")
        repo.publish_targets(keys=old)  # by the key root no longer lists
        repo.publish_snapshot()
        repo.publish_timestamp()
        self.download("t", expect=1)
        self.assert_targets([])
        self.assert_trusted({"root": 2, "timestamp": 2, "snapshot": 2, "targets": 1})
        repo.publish_targets(version=2)
        self.download("t")
        self.assert_targets(["t"])
        self.assert_trusted({"root": 2, "timestamp": 2, "snapshot": 2, "targets": 2})

    def test_at_most_max_rotations_per_update(self):
        repo = self.setup_trusted()
        for _ in range(MAX_ROTATIONS + 2):
            repo.publish_root()
        last = 1 + MAX_ROTATIONS
        self.refresh()
        self.assert_trusted(dict(self.all_roles_trusted(), root=last))
        roots = [p for p in self.requests() if p.endswith(".root.json")]
        self.assertEqual(roots, ["metadata/%d.root.json" % v for v in range(2, last + 1)])
        self.server.clear_log()
        self.refresh()
        self.assert_trusted(dict(self.all_roles_trusted(), root=last + 2))


if __name__ == "__main__":
    unittest.main()
