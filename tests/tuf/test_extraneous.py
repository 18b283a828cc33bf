"""Extraneous files: the client fetches and writes only what signed metadata
names: no unlisted target, no metadata of roles it does not need, nothing
outside its metadata and target dirs."""

import unittest

from harness import TufTestCase


class TestExtraneous(TufTestCase):
    def setUp(self):
        super().setUp()
        repo = self.make_repo()
        repo.add_target("wanted", b"wanted")
        repo.add_target("other", b"other")
        repo.delegate("targets", "d", paths=["d/*"])
        repo.delegate("targets", "e", paths=["e/*"])
        repo.add_target("d/x", b"dx", role="d")
        repo.add_target("e/y", b"ey", role="e")
        repo.commit("targets", "d", "e")
        # On the server but named by no signed metadata:
        repo.files["targets/unlisted"] = b"unlisted"
        repo.files["metadata/1.unlisted-role.json"] = repo.history["d"][1]
        repo.files["metadata/root.json"] = repo.history["root"][1]
        self.init()

    def test_download_fetches_only_what_it_needs(self):
        repo = self.repo
        self.download("wanted")
        self.assertEqual(self.requests(), [
            "metadata/2.root.json", "metadata/timestamp.json", "metadata/2.snapshot.json",
            "metadata/2.targets.json", repo.target_paths("wanted")[0]])
        self.assert_targets(["wanted"])
        self.assert_trusted(self.all_roles_trusted())
        self.assert_tmp_clean()

    def test_only_the_delegated_role_for_the_path(self):
        self.download("d/x")
        self.assertEqual(self.requests()[4:], ["metadata/1.d.json",
                                               self.repo.target_paths("d/x")[0]])
        self.assert_targets(["d/x"])
        self.assert_trusted(dict(self.all_roles_trusted(), d=1))

    def test_unlisted_target_is_not_fetched(self):
        for name in ("unlisted", "d/unlisted", "e/nothing", "f/nothing"):
            with self.subTest(name=name):
                self.server.clear_log()
                self.download(name, expect=1)
                self.assertFalse([p for p in self.requests() if p.startswith("targets/")])
                self.assertNotIn("metadata/1.unlisted-role.json", self.requests())
                self.assertNotIn("metadata/root.json", self.requests())
        self.assert_targets([])
        self.assert_tmp_clean()

    def test_refresh_fetches_no_delegated_role_and_no_target(self):
        self.refresh()
        self.assertEqual(self.requests(), [
            "metadata/2.root.json", "metadata/timestamp.json", "metadata/2.snapshot.json",
            "metadata/2.targets.json"])
        self.assert_targets([])
        self.assert_trusted(self.all_roles_trusted())


if __name__ == "__main__":
    unittest.main()
