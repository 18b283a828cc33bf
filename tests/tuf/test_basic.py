"""Happy paths of the client protocol: init, refresh, download, the target
cache, several targets in one run, key types, layouts and file names."""

import os
import unittest

from harness import TufTestCase, target_file_name, tufjs_deviates
from reposim import Repo, strip_signatures


class TestInit(TufTestCase):
    def test_init_writes_only_root_and_makes_no_request(self):
        self.make_repo()
        self.init()
        self.assert_trusted({"root": 1})
        self.assertEqual(self.requests(), [])
        self.assert_tmp_clean()

    def test_init_rejects_root_not_signed_by_itself(self):
        self.make_repo()
        self.init(strip_signatures(self.repo.history["root"][1]), expect=1)
        self.assertEqual(self.trusted_files(), {})
        self.assertEqual(self.requests(), [])

    def test_init_rejects_garbage_and_missing_file(self):
        self.make_repo()
        self.init(b"{not json", expect=1)
        self.assertEqual(self.trusted_files(), {})
        r = self.run_client(["--metadata-dir", self.mdir, "init",
                             os.path.join(self.tmp, "no-such-root.json")])
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(self.trusted_files(), {})


class TestRefresh(TufTestCase):
    def test_refresh_fetches_each_role_once_in_order(self):
        self.make_repo()
        self.init()
        self.refresh()
        self.assert_trusted({"root": 1, "timestamp": 1, "snapshot": 1, "targets": 1})
        self.assertEqual(self.requests(), ["metadata/2.root.json", "metadata/timestamp.json",
                                           "metadata/1.snapshot.json",
                                           "metadata/1.targets.json"])
        self.assert_tmp_clean()

    def test_refresh_again_and_after_update(self):
        repo = self.setup_trusted()
        self.refresh()
        self.assert_trusted({"root": 1, "timestamp": 1, "snapshot": 1, "targets": 1})
        log = self.requests()
        self.assertEqual(log[:2], ["metadata/2.root.json", "metadata/timestamp.json"])
        self.assertLessEqual(set(log[2:]), {"metadata/1.snapshot.json",
                                            "metadata/1.targets.json"})
        repo.add_target("a.txt", b"a")
        repo.commit("targets")
        self.refresh()
        self.assert_trusted({"root": 1, "timestamp": 2, "snapshot": 2, "targets": 2})

    def test_pretty_printed_metadata(self):
        """Signatures are over the canonical form of the parsed signed object,
        so an indented file verifies."""
        repo = self.make_repo(pretty=True)
        repo.add_target("p.txt", b"pretty")
        repo.commit("targets")
        self.assertIn(b"\n  ", repo.files["metadata/timestamp.json"])
        self.init()
        self.download("p.txt")
        self.assert_targets(["p.txt"])
        self.assert_trusted(self.all_roles_trusted())

    def test_not_consistent_snapshot_layout(self):
        repo = self.make_repo(consistent_snapshot=False)
        repo.add_target("dir/n.txt", b"plain layout")
        repo.commit("targets")
        self.init()
        self.download("dir/n.txt")
        self.assert_targets(["dir/n.txt"])
        self.assertEqual(self.requests(), ["metadata/2.root.json", "metadata/timestamp.json",
                                           "metadata/snapshot.json", "metadata/targets.json",
                                           "targets/dir/n.txt"])

    def test_hashes_and_lengths_in_timestamp_and_snapshot(self):
        repo = self.make_repo(timestamp_hashes=True, snapshot_hashes=True)
        repo.add_target("h.txt", b"hashed", sha512=True)
        repo.commit("targets")
        self.assertIn("hashes", repo.history["timestamp"][2].decode())
        self.init()
        self.download("h.txt")
        self.assert_targets(["h.txt"])


class TestDownload(TufTestCase):
    def test_download_writes_target_and_second_run_uses_cache(self):
        repo = self.make_repo()
        data = b"channel content\n" * 100
        repo.add_target("channels/a.bin", data, custom={"channel": "a"})
        repo.commit("targets")
        self.init()
        self.download("channels/a.bin")
        self.assert_targets(["channels/a.bin"])
        url = repo.target_paths("channels/a.bin")[0]
        self.assertEqual(url, "targets/channels/%s.a.bin"
                         % repo.target_hashes("channels/a.bin")["sha256"])
        self.assertEqual(self.requests().count(url), 1)
        self.assertEqual(self.requests()[-1], url)
        self.server.clear_log()
        self.download("channels/a.bin")
        self.assertNotIn(url, self.requests())
        self.assert_targets(["channels/a.bin"])
        self.assert_trusted(self.all_roles_trusted())
        self.assert_tmp_clean()

    def test_cached_file_with_wrong_content_is_replaced(self):
        repo = self.make_repo()
        repo.add_target("c.txt", b"right")
        repo.commit("targets")
        self.init()
        with open(os.path.join(self.tdir, "c.txt"), "wb") as f:
            f.write(b"wrong")
        self.download("c.txt")
        self.assert_targets(["c.txt"])
        self.assertIn(repo.target_paths("c.txt")[0], self.requests())

    def test_several_targets_in_order(self):
        repo = self.make_repo()
        for n in ("one", "two", "three"):
            repo.add_target(n, n.encode() * 10)
        repo.commit("targets")
        self.init()
        self.download("two", "one", "three")
        self.assert_targets(["one", "two", "three"])
        tlog = [p for p in self.requests() if p.startswith("targets/")]
        self.assertEqual(tlog, [repo.target_paths(n)[0] for n in ("two", "one", "three")])

    def test_several_targets_stop_at_first_failure(self):
        repo = self.make_repo()
        repo.add_target("first", b"1")
        repo.add_target("third", b"3")
        repo.commit("targets")
        self.init()
        self.download("first", "missing", "third", expect=1)
        self.assert_targets(["first"])
        self.assertNotIn(repo.target_paths("third")[0], self.requests())
        # A bad target (wrong bytes) also stops the run.
        self.server.clear_log()
        repo.files[repo.target_paths("first")[0]] = b"X"
        os.unlink(os.path.join(self.tdir, "first"))
        self.download("first", "third", expect=1)
        self.assert_targets([])
        self.assertNotIn(repo.target_paths("third")[0], self.requests())

    def test_unknown_target_fails_and_fetches_no_target(self):
        self.make_repo()
        self.init()
        self.download("nothing-here", expect=1)
        self.assert_targets([])
        self.assertFalse([p for p in self.requests() if p.startswith("targets/")])
        self.assert_trusted(self.all_roles_trusted())

    def test_target_file_names_are_percent_encoded(self):
        repo = self.make_repo()
        names = ["dir/sub/file name.txt", "ümlaut+plus=eq", ".", "..", "...", "a~b-c_d.e"]
        for n in names:
            repo.add_target(n, ("data of %s" % n).encode())
        repo.commit("targets")
        self.init()
        self.download(*names)
        self.assert_targets(names)
        self.assertEqual(sorted(self.target_files()), sorted([
            "dir%2Fsub%2Ffile%20name.txt", "%C3%BCmlaut%2Bplus%3Deq", "%2E", "%2E%2E", "...",
            "a~b-c_d.e"]))
        self.assertEqual(target_file_name("a/b"), "a%2Fb")


class TestKeyTypes(TufTestCase):
    def test_ecdsa_and_rsa_roles(self):
        repo = self.make_repo(keytypes={"root": "rsa", "timestamp": "ecdsa",
                                        "snapshot": "rsa", "targets": "ecdsa"})
        repo.delegate("targets", "rsa-role", paths=["r/*"], keytype="rsa")
        repo.delegate("targets", "ec-role", paths=["e/*"], keytype="ecdsa")
        repo.add_target("r/x", b"rsa signed", role="rsa-role")
        repo.add_target("e/y", b"ecdsa signed", role="ec-role")
        repo.commit("targets", "rsa-role", "ec-role")
        self.assertIn("BEGIN PUBLIC KEY", repo.history["root"][1].decode())
        self.init()
        self.download("r/x", "e/y")
        self.assert_targets(["r/x", "e/y"])
        self.assert_trusted(dict(self.all_roles_trusted(), **{"rsa-role": 1, "ec-role": 1}))

    def test_ecdsa_signature_by_wrong_key_fails(self):
        repo = self.make_repo(keytypes={"timestamp": "ecdsa"})
        self.init()
        self.refresh()
        other = Repo(keytypes={"timestamp": "ecdsa"}, publish=False)
        repo.publish_timestamp(keys=other.keys["timestamp"])
        self.refresh(expect=1)
        self.assert_trusted({"root": 1, "timestamp": 1, "snapshot": 1, "targets": 1})


if __name__ == "__main__":
    unittest.main()
