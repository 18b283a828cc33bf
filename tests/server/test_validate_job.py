"""test_validate_job.py — the release upload check runs in a process of its
own (`ringfenced validate-job DIR`), never in the threaded server.

The validator forks its checks; forked from ringfenced's HTTP threads, a
child could inherit a lock another thread held and wait on it forever (seen
under AddressSanitizer: a good release rejected after the child's 30 s
wall-clock limit, while other requests were being answered). Here: uploads
while three clients keep the HTTP threads busy all pass, quickly; the job
leaves no temporary directory behind; the job itself refuses bad arguments
with exit code 2.
"""

import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

UPLOADS = 12
def jobs_left(d):
    return [n for n in os.listdir(d) if n.startswith("ringfenced-validate-")]


class ValidateJobTest(H.ServerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = cls.fx.new_dir("tmpdir")
        cls.srv = cls.class_server(name="validate", env={"TMPDIR": cls.tmp})
        admin = cls.srv.init()
        cls.srv.start()
        cls.w = H.World(cls.srv, admin, cls.fx).bootstrap()

    def test_uploads_during_concurrent_requests(self):
        stop = threading.Event()
        errors = []

        def busy():
            while not stop.is_set():
                try:
                    st, _ = self.srv.call("GET", "/healthz", timeout=10)
                    if st != 200:
                        errors.append(st)
                except OSError as e:
                    errors.append(repr(e))

        clients = [threading.Thread(target=busy) for _ in range(3)]
        for t in clients:
            t.start()
        slow = []
        try:
            for version in range(4, 4 + UPLOADS):
                t0 = time.monotonic()
                st, v = self.srv.call("POST", "/v1/releases", self.w.tok["author"],
                                      self.fx.release_body(version, "v4"), timeout=H.T(120))
                took = time.monotonic() - t0
                self.assertEqual(st, 201, "upload of version %d: %s" % (version, v))
                self.assertEqual(v["report"]["verdict"], "accepted", v["report"])
                # A hung child is killed after 30 s; a release build validates
                # this channel in well under a second.
                if took > H.T(20):
                    slow.append((version, round(took, 1)))
        finally:
            stop.set()
            for t in clients:
                t.join()
        self.assertEqual(slow, [], "uploads that waited for a child's wall-clock limit")
        self.assertEqual(errors, [], "health checks failed during the uploads")
        self.assertEqual(jobs_left(self.tmp), [], "the validation jobs left files behind")

    def test_rejection_comes_from_the_job(self):
        # The 19 July content: the job's report, first error in words.
        st, v = self.w.upload(90, source="v5")
        self.assertEqual(st, 422, v)
        self.assertIn("[capability]", v["error"])
        self.assertEqual(v["report"]["verdict"], "rejected")
        self.assertEqual(jobs_left(self.tmp), [])

    def test_job_refuses_bad_arguments(self):
        for argv, needle in (([], "usage: ringfenced validate-job DIR"),
                             (["a", "b"], "usage: ringfenced validate-job DIR"),
                             ([os.path.join(self.tmp, "missing")],
                              "the manifests cannot be read")):
            with self.subTest(argv=argv):
                p = subprocess.run([H.RINGFENCED, "validate-job"] + argv, capture_output=True,
                                   text=True, timeout=H.T(30))
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(needle, p.stderr)


if __name__ == "__main__":
    unittest.main()
