"""Wrong software through delegations: a delegated role is trusted only for
the paths it is delegated; terminating delegations end the search; roles
are searched depth-first in listed order (pre-order) and the first role
that lists a target decides; the search is bounded; and no target name can
make the client write outside its target dir."""

import hashlib
import os
import unittest

from harness import TufTestCase, role_file_name, target_file_name


def meta(path):
    """Base name of a delegated role metadata URL path: 'N.name.json' -> name."""
    base = path.split("/", 1)[1]
    return base.split(".", 1)[1][: -len(".json")]


class TestDelegations(TufTestCase):
    def role_requests(self):
        """Delegated role names in the order their metadata was requested."""
        return [meta(p) for p in self.requests()
                if p.startswith("metadata/") and not p.endswith(
                    ("root.json", "timestamp.json", "snapshot.json", ".targets.json"))]

    def test_target_outside_delegated_paths_is_not_trusted(self):
        repo = self.make_repo()
        repo.delegate("targets", "a", paths=["a/*"])
        repo.add_target("b/evil", b"evil", role="a")  # a signs outside its paths
        repo.commit("targets", "a")
        self.init()
        self.download("b/evil", expect=1)
        self.assert_targets([])
        self.assertEqual(self.role_requests(), [])
        self.assertNotIn("a.json", self.trusted_files())

    def test_role_for_the_path_wins_over_role_listing_it_wrongly(self):
        repo = self.make_repo()
        repo.delegate("targets", "a", paths=["a/*"])
        repo.delegate("targets", "b", paths=["b/*"])
        repo.add_target("b/x", b"evil", role="a")
        repo.add_target("b/x", b"good", role="b")
        repo.commit("targets", "a", "b")
        self.init()
        self.download("b/x")
        self.assertEqual(self.target_files(), {"b%2Fx": b"good"})
        self.assertEqual(self.role_requests(), ["b"])

    def test_star_does_not_cross_slash(self):
        repo = self.make_repo()
        repo.delegate("targets", "a", paths=["a/*"])
        repo.add_target("a/deep/x", b"deep", role="a")
        repo.add_target("a/x", b"shallow", role="a")
        repo.commit("targets", "a")
        self.init()
        self.download("a/deep/x", expect=1)
        self.assert_targets([])
        self.download("a/x")
        self.assert_targets(["a/x"])

    def test_glob_patterns(self):
        repo = self.make_repo()
        repo.delegate("targets", "g", paths=["ch-?/*.bin", "exact/name.txt"])
        for p in ("ch-1/a.bin", "exact/name.txt", "ch-12/a.bin", "ch-1/a.txt", "exact/name"):
            repo.add_target(p, p.encode(), role="g")
        repo.commit("targets", "g")
        self.init()
        self.download("ch-1/a.bin", "exact/name.txt")
        for p in ("ch-12/a.bin", "ch-1/a.txt", "exact/name"):
            with self.subTest(path=p):
                self.download(p, expect=1)
        self.assert_targets(["ch-1/a.bin", "exact/name.txt"])

    def test_path_hash_prefixes(self):
        repo = self.make_repo()
        h = hashlib.sha256(b"hashed/one").hexdigest()
        other = "0" if h[0] != "0" else "1"
        repo.delegate("targets", "bin-yes", path_hash_prefixes=[h[:2]])
        repo.delegate("targets", "bin-no", path_hash_prefixes=[other + h[1:2]])
        repo.add_target("hashed/one", b"one", role="bin-no")
        repo.add_target("hashed/one", b"one!", role="bin-yes")
        repo.commit("targets", "bin-yes", "bin-no")
        self.init()
        self.download("hashed/one")
        self.assertEqual(self.target_files(), {"hashed%2Fone": b"one!"})
        self.assertEqual(self.role_requests(), ["bin-yes"])

    def test_terminating_role_stops_the_search(self):
        repo = self.make_repo()
        repo.delegate("targets", "t", paths=["x/*"], terminating=True)
        repo.delegate("targets", "later", paths=["x/*"])
        repo.add_target("x/only-later", b"later", role="later")
        repo.commit("targets", "t", "later")
        self.init()
        self.download("x/only-later", expect=1)
        self.assert_targets([])
        self.assertEqual(self.role_requests(), ["t"])

    def test_terminating_role_not_matching_does_not_stop(self):
        repo = self.make_repo()
        repo.delegate("targets", "t", paths=["y/*"], terminating=True)
        repo.delegate("targets", "later", paths=["x/*"])
        repo.add_target("x/1", b"later", role="later")
        repo.commit("targets", "t", "later")
        self.init()
        self.download("x/1")
        self.assert_targets(["x/1"])
        self.assertEqual(self.role_requests(), ["later"])

    def test_terminating_deeper_role_stops_everything(self):
        repo = self.make_repo()
        repo.delegate("targets", "a", paths=["*"])
        repo.delegate("a", "a1", paths=["*"], terminating=True)
        repo.delegate("targets", "b", paths=["*"])
        repo.add_target("z", b"z", role="b")
        repo.commit("targets", "a", "a1", "b")
        self.init()
        self.download("z", expect=1)
        self.assertEqual(self.role_requests(), ["a", "a1"])

    def test_preorder_depth_first_search(self):
        repo = self.make_repo()
        repo.delegate("targets", "a", paths=["*"])
        repo.delegate("a", "a1", paths=["*"])
        repo.delegate("a1", "a11", paths=["*"])
        repo.delegate("a", "a2", paths=["*"])
        repo.delegate("targets", "b", paths=["*"])
        repo.delegate("b", "b1", paths=["*"])
        repo.delegate("targets", "c", paths=["*"])
        repo.add_target("t", b"from b1", role="b1")
        repo.add_target("t", b"from c", role="c")
        repo.commit("targets", "a", "a1", "a11", "a2", "b", "b1", "c")
        self.init()
        self.download("t")
        self.assertEqual(self.role_requests(), ["a", "a1", "a11", "a2", "b", "b1"])
        self.assertEqual(self.target_files(), {"t": b"from b1"})
        self.assert_trusted(dict(self.all_roles_trusted(),
                                 **{r: 1 for r in ("a", "a1", "a11", "a2", "b", "b1")}))

    def test_top_level_listing_wins(self):
        repo = self.make_repo()
        repo.delegate("targets", "a", paths=["*"])
        repo.add_target("t", b"delegated", role="a")
        repo.add_target("t", b"top")
        repo.commit("targets", "a")
        self.init()
        self.download("t")
        self.assertEqual(self.target_files(), {"t": b"top"})
        self.assertEqual(self.role_requests(), [])

    def test_max_delegations(self):
        """A chain of 40 roles: the search gives up after 32 roles."""
        repo = self.make_repo()
        parent = "targets"
        for i in range(1, 41):
            repo.delegate(parent, "r%d" % i, paths=["*"])
            parent = "r%d" % i
        repo.add_target("deep", b"deep", role="r40")
        repo.add_target("shallow", b"shallow", role="r10")
        repo.commit("targets", *["r%d" % i for i in range(1, 41)])
        self.init()
        self.download("deep", expect=1)
        self.assert_targets([])
        visited = self.role_requests()
        self.assertLessEqual(len(visited), 32)
        self.assertGreaterEqual(len(visited), 30)
        self.assertEqual(visited, ["r%d" % i for i in range(1, len(visited) + 1)])
        self.download("shallow")
        self.assert_targets(["shallow"])

    def test_delegation_cycle_ends(self):
        repo = self.make_repo()
        repo.delegate("targets", "p", paths=["*"])
        repo.delegate("p", "q", paths=["*"])
        keys = repo.deleg_keys["p"]
        repo.delegate("q", "p", paths=["*"], keys=keys)
        repo.commit("targets", "p", "q")
        self.init()
        self.download("nowhere", expect=1)
        visited = self.role_requests()
        self.assertLessEqual(len(visited), 32)
        self.assertEqual(visited[:2], ["p", "q"])

    def test_role_names_are_encoded_in_the_metadata_dir(self):
        repo = self.make_repo()
        names = ["team/a b", "q?x=1&y#2", "..", "%2e"]
        for n in names:
            repo.delegate("targets", n, paths=["%d/*" % names.index(n)])
            repo.add_target("%d/f" % names.index(n), n.encode(), role=n)
        repo.commit("targets", *names)
        self.init()
        self.download(*["%d/f" % i for i in range(len(names))])
        self.assert_trusted(dict(self.all_roles_trusted(), **{n: 1 for n in names}))
        self.assertEqual(role_file_name("team/a b"), "team%2Fa%20b.json")
        self.assertIn("%252e.json", self.trusted_files())
        self.assert_tmp_clean()

    def test_target_names_never_escape_the_target_dir(self):
        repo = self.make_repo()
        names = ["../escape-1", "../../escape-2", "a/../../escape-3", "/abs/escape-4",
                 "..%2F..%2Fescape-5", "%2e%2e/escape-6", "..\\escape-7", "./.././escape-8",
                 "ok/../../../../../../../../../tmp/escape-9"]
        for n in names:
            repo.add_target(n, ("content of %s" % n).encode())
        repo.commit("targets")
        self.tdir = os.path.join(self.tmp, "deep", "er", "targets")
        os.makedirs(self.tdir)
        self.init()
        self.download(*names)
        self.assert_targets(names)
        found = []
        for top, _, files in os.walk(self.tmp):
            found += [os.path.relpath(os.path.join(top, f), self.tmp) for f in files]
        want = ["root.json"] + [os.path.join("deep", "er", "targets", target_file_name(n))
                                for n in names]
        want += [os.path.join("metadata", f) for f in self.trusted_files()]
        self.assertEqual(sorted(found), sorted(want))
        self.assertFalse(os.path.exists("/tmp/escape-9"))


if __name__ == "__main__":
    unittest.main()
