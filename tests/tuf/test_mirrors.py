"""Malicious or broken mirrors: server errors, garbage, truncated files, an
HTML error page. The client fails without trusting anything it could not
verify (the roles verified before the broken one are kept, as the workflow
persists each role before fetching the next), and succeeds once the mirror
is fixed."""

import unittest

from harness import TufTestCase

HTML = b"<html><head><title>502 Bad Gateway</title></head><body>oops</body></html>\n"
GARBAGE = bytes(range(256)) * 4


def breakages(good):
    """(name, fault keyword arguments) for a path whose good body is good."""
    return [
        ("status 500", {"status": 500}),
        ("status 503", {"status": 503}),
        ("status 404", {"status": 404}),
        ("status 403", {"status": 403}),
        ("garbage", {"body": GARBAGE}),
        ("empty", {"body": b""}),
        ("truncated", {"body": good[: len(good) // 2]}),
        ("one byte short", {"body": good[:-1]}),
        ("html page", {"body": HTML, "content_type": "text/html"}),
        ("json null", {"body": b"null"}),
        ("json array", {"body": b"[]"}),
    ]


class TestBrokenMirrors(TufTestCase):
    def setUp(self):
        super().setUp()
        self.setup_delegated_first()

    def check_role(self, role):
        before = self.current()
        path, good, target = self.publish_new(role)
        order = ["root", "timestamp", "snapshot", "targets", "d"]
        stop = {"timestamp": 1, "snapshot": 2, "targets": 3, "delegated": 4,
                "target": 5}[role]
        now = self.current()
        expected = {r: (now[r] if i < stop else before[r]) for i, r in enumerate(order)}
        run = (lambda e: self.download(target, expect=e)) if target else \
            (lambda e: self.refresh(expect=e))
        for name, fault in breakages(good):
            with self.subTest(role=role, breakage=name):
                self.server.clear_faults()
                self.fault(path, **fault)
                run(1)
                self.assert_trusted(expected)
                self.assert_targets(self.installed)
        self.server.clear_faults()
        run(0)
        self.assert_trusted(self.current())
        self.installed += [target] if target else []
        self.assert_targets(self.installed)

    def test_broken_timestamp(self):
        self.check_role("timestamp")

    def test_broken_snapshot(self):
        self.check_role("snapshot")

    def test_broken_targets(self):
        self.check_role("targets")

    def test_broken_delegated_targets(self):
        self.check_role("delegated")

    def test_broken_target_file(self):
        self.check_role("target")

    def test_broken_next_root(self):
        """A new root that cannot be had stops the update (only 404/403
        mean there is none); the trusted root stays."""
        repo = self.repo
        path, good, _ = self.publish_new("root")
        for name, fault in breakages(good):
            if name in ("status 404", "status 403"):
                continue
            with self.subTest(breakage=name):
                self.server.clear_faults()
                self.fault(path, **fault)
                self.refresh(expect=1)
                self.assert_trusted(dict(self.current(), root=1))
        self.server.clear_faults()
        self.refresh()
        self.assert_trusted(self.current())
        self.assertEqual(repo.version["root"], 2)

    def test_content_type_is_irrelevant(self):
        """Genuine files served with odd content types are accepted: only
        signatures, lengths and hashes decide."""
        path, good, target = self.publish_new("target")
        for p in ("metadata/timestamp.json", path):
            self.fault(p, content_type="text/html")
        self.download(target)
        self.installed.append(target)
        self.assert_targets(self.installed)
        self.assert_trusted(self.current())


if __name__ == "__main__":
    unittest.main()
