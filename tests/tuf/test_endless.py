"""Endless data: a mirror that sends more than the client may read (an
endless body, a Content-Length that lies, a target longer than its listed
length) cannot make the client read past its limit or accept the file."""

import time
import unittest

from harness import TufTestCase

# An endless body must be cut at the role's size limit (at most 5 MB here).
# Socket buffers and a client's read-ahead let the server send more than
# that before it notices, but not the 100 MiB (reposim.MAX_STREAM_BYTES) it
# sends to a client that reads on.
MAX_SENT = 64 * 1024 * 1024


class TestEndlessData(TufTestCase):
    def setUp(self):
        super().setUp()
        self.setup_delegated_first()

    def endless_sent(self, path):
        """Bytes of the endless body sent, once its handler has ended (the
        client has exited, so the next write fails)."""
        for _ in range(200):
            with self.server._lock:
                if path in self.server.endless_sent:
                    return self.server.endless_sent.pop(path)
            time.sleep(0.05)
        self.fail("the server still streams %s after the client exited" % path)

    def attack(self, role, fault_fn=None, **fault):
        before = self.current()
        path, good, target = self.publish_new(role)
        if fault_fn:
            fault = fault_fn(good)
        order = ["root", "timestamp", "snapshot", "targets", "d"]
        stop = {"root": 0, "timestamp": 1, "snapshot": 2, "targets": 3, "delegated": 4,
                "target": 5}[role]
        now = self.current()
        self.fault(path, **fault)
        if target:
            self.download(target, expect=1)
        else:
            self.refresh(expect=1)
        if fault.get("infinite"):
            self.assertLess(self.endless_sent(path), MAX_SENT,
                            "the client read on past its limit")
        self.assert_trusted({x: (now[x] if i < stop else before[x])
                             for i, x in enumerate(order)})
        self.assert_targets(self.installed)
        self.server.clear_faults()
        if target:
            self.download(target)
            self.installed.append(target)
        else:
            self.refresh()
        self.assert_trusted(self.current())
        self.assert_targets(self.installed)
        return good

    def test_endless_body(self):
        for role in ("root", "timestamp", "snapshot", "targets", "delegated", "target"):
            with self.subTest(role=role):
                self.attack(role, infinite=True)

    def test_endless_body_behind_small_content_length(self):
        for role in ("timestamp", "target"):
            with self.subTest(role=role):
                self.attack(role, infinite=True, content_length=100)

    def test_content_length_smaller_than_body(self):
        for role in ("timestamp", "snapshot", "targets", "target"):
            with self.subTest(role=role):
                self.attack(role, content_length=20)

    def test_content_length_larger_than_body(self):
        """The body ends (connection closed) before the announced length."""
        for role in ("root", "timestamp", "snapshot", "target"):
            with self.subTest(role=role):
                self.attack(role, fault_fn=lambda good: {"content_length": len(good) + 1000})

    def test_target_longer_than_listed_length(self):
        for extra in (1, 4096):
            with self.subTest(extra=extra):
                path, good, target = self.publish_new("target")
                self.fault(path, body=good + b"\0" * extra)
                self.download(target, expect=1)
                self.assert_targets(self.installed)
                self.server.clear_faults()

    def test_target_listed_shorter_than_its_hashed_content(self):
        """The listed length is the limit even when the hash matches more."""
        repo = self.repo
        data = b"0123456789" * 100
        repo.add_target("short", data, length=500)
        repo.commit("targets")
        self.download("short", expect=1)
        self.assert_targets(self.installed)
        self.assert_trusted(self.current())

    def test_metadata_over_default_limit(self):
        """A timestamp larger than the client's limit (16384 bytes) is
        refused even when complete and validly signed."""
        before = self.current()

        def pad(signed):
            signed["padding"] = "x" * 20000
        self.repo.publish_timestamp(mutate=pad)
        self.refresh(expect=1)
        self.assert_trusted(before)


if __name__ == "__main__":
    unittest.main()
