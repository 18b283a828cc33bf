"""Arbitrary installation: metadata or targets changed after signing, signed by
keys the delegating role does not list, or with signatures stripped, are
refused for every role and for target files; trusted state is unchanged and
the genuine files are accepted afterwards."""

import json
import unittest

from harness import TufTestCase
from reposim import Key, flip_byte, parse_signed, resign, strip_signatures, tamper_signed

# The roles a bad file is tried on, and what the client must then do.
ROLES = ("root", "timestamp", "snapshot", "targets", "delegated", "target")


class TestArbitraryInstallation(TufTestCase):
    def setUp(self):
        super().setUp()
        repo = self.make_repo()
        repo.delegate("targets", "d", paths=["d/*"])
        repo.add_target("d/first", b"first delegated", role="d")
        repo.add_target("first", b"first top")
        repo.commit("targets", "d")
        self.init()
        self.download("first", "d/first")
        self.assert_trusted(self.current())
        self.server.clear_log()
        self.installed = ["first", "d/first"]

    def expected_after_failure(self, role, before):
        """Trusted versions after the bad file of role was refused: the
        roles verified before it are updated, it and the later are not."""
        order = ["root", "timestamp", "snapshot", "targets", "d"]
        stop = {"root": 0, "timestamp": 1, "snapshot": 2, "targets": 3,
                "delegated": 4, "target": 5}[role]
        now = self.current()
        return {r: (now[r] if i < stop else before[r]) for i, r in enumerate(order)}

    def attack(self, role, make_bad):
        """Publish a new version of role, serve make_bad(genuine bytes)
        instead; the client must fail and trust nothing new of it; with the
        genuine file back, it must succeed."""
        before = self.current()
        path, good, target = self.publish_new(role)
        bad = make_bad(good)
        self.assertNotEqual(bad, good)
        self.fault(path, body=bad)
        run = (lambda expect: self.download(target, expect=expect)) if target else \
            (lambda expect: self.refresh(expect=expect))
        run(1)
        self.assert_trusted(self.expected_after_failure(role, before),
                            "after a bad %s" % role)
        self.assert_targets(self.installed)
        self.server.clear_faults()
        run(0)
        self.assert_trusted(self.current(), "after the genuine %s" % role)
        self.installed += [target] if target else []
        self.assert_targets(self.installed)

    def test_signed_content_changed(self):
        for role in ROLES[:-1]:
            with self.subTest(role=role):
                self.attack(role, tamper_signed)

    def test_flipped_byte(self):
        for role in ROLES:
            for frac in (0.3, 0.7):
                with self.subTest(role=role, at=frac):
                    self.attack(role, lambda d, f=frac: flip_byte(d, int(len(d) * f)))

    def test_target_with_other_content_of_same_length(self):
        self.attack("target", lambda d: d[::-1] if d[::-1] != d else b"x" * len(d))

    def test_signed_by_unlisted_key(self):
        intruder = Key()
        for role in ROLES[:-1]:
            with self.subTest(role=role):
                self.attack(role, lambda d: resign(d, [intruder]))

    def test_unlisted_key_signature_under_listed_keyid(self):
        """A signature made by another key but labelled with a listed key id."""
        intruder = Key()
        for role in ROLES[:-1]:
            with self.subTest(role=role):
                def forge(d):
                    sig = intruder.signature(parse_signed(d))
                    keyid = json.loads(d)["signatures"][0]["keyid"]
                    return resign(d, [], [{"keyid": keyid, "sig": sig["sig"]}])
                self.attack(role, forge)

    def test_stripped_signatures(self):
        for role in ROLES[:-1]:
            with self.subTest(role=role):
                self.attack(role, strip_signatures)


if __name__ == "__main__":
    unittest.main()
