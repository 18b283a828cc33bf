"""Indefinite freeze attacks: expired metadata of any role is refused. The
client's clock is moved with faketime (30 days ahead); metadata that expires
in 10 days is then expired, metadata that expires in 365 days is not."""

import unittest

from harness import TufTestCase
from reposim import Repo, expiry

LATER = "+30d"


class TestFreeze(TufTestCase):
    def test_faketime_works(self):
        """Sanity: with nothing expiring, the moved clock changes nothing."""
        self.setup_trusted()
        self.faketime_refresh(LATER)

    def expired_new(self, role):
        """Publish a new version of role expiring in 10 days (and what
        must follow); returns the versions trusted before."""
        repo = self.repo
        before = self.all_roles_trusted()
        soon = expiry(10)
        if role == "timestamp":
            repo.publish_timestamp(expires=soon)
        elif role == "snapshot":
            repo.publish_snapshot(expires=soon)
            repo.publish_timestamp()
        elif role == "targets":
            repo.publish_targets(expires=soon)
            repo.publish_snapshot()
            repo.publish_timestamp()
        return before

    def test_expired_metadata_is_refused(self):
        for role in ("timestamp", "snapshot", "targets"):
            with self.subTest(role=role):
                self.setup_trusted()
                self.expired_new(role)
                self.faketime_refresh(LATER, expect=1)
                self.refresh()  # today it is valid
                self.assert_trusted(self.all_roles_trusted())
                self.faketime_refresh(LATER, expect=1)  # trusted and expired
                self.doCleanups()
                self.setUp()

    def test_expired_timestamp_is_not_persisted(self):
        self.setup_trusted()
        before = self.expired_new("timestamp")
        self.faketime_refresh(LATER, expect=1)
        self.assert_trusted(before)

    def test_expired_snapshot_and_targets_are_not_persisted(self):
        for role in ("snapshot", "targets"):
            with self.subTest(role=role):
                self.setup_trusted()
                before = self.expired_new(role)
                self.faketime_refresh(LATER, expect=1)
                want = dict(before, timestamp=self.repo.version["timestamp"])
                if role == "targets":
                    want["snapshot"] = self.repo.version["snapshot"]
                self.assert_trusted(want)
                self.doCleanups()
                self.setUp()

    def test_expired_root(self):
        repo = Repo(publish=False)
        repo.expires["root"] = expiry(10)
        repo.publish_root()
        repo.commit()
        self.make_repo(repo)
        self.init()
        self.refresh()
        self.faketime_refresh(LATER, expect=1)
        self.assert_trusted(self.all_roles_trusted())
        # A newer root that is not expired ends the freeze.
        repo.expires["root"] = expiry(365)
        repo.publish_root()
        self.faketime_refresh(LATER)
        self.assert_trusted(self.all_roles_trusted())

    def test_expired_new_root_is_not_the_final_root(self):
        repo = self.setup_trusted()
        repo.expires["root"] = expiry(10)
        repo.publish_root()  # 2, expired by then
        self.faketime_refresh(LATER, expect=1)
        repo.expires["root"] = expiry(365)
        repo.publish_root()  # 3
        self.faketime_refresh(LATER)
        self.assert_trusted(dict(self.all_roles_trusted(), root=3))

    def test_expired_delegated_role(self):
        repo = self.make_repo()
        repo.delegate("targets", "d", paths=["d/*"])
        repo.expires["d"] = expiry(10)
        repo.add_target("d/x", b"x", role="d")
        repo.commit("targets")
        self.init()
        self.faketime_refresh(LATER, download="d/x", expect=1)
        self.assert_targets([])
        self.assertNotIn("d.json", self.trusted_files())
        self.download("d/x")
        self.assert_targets(["d/x"])

    def test_absolute_date_far_ahead(self):
        """An absolute faked date ('@YYYY-MM-DD hh:mm:ss') past every expiry."""
        self.setup_trusted()
        self.faketime_refresh("@2099-01-01 00:00:00", expect=1)
        self.assert_trusted(self.all_roles_trusted())


if __name__ == "__main__":
    unittest.main()
