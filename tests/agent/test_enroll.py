"""test_enroll.py — `ringfence-agent enroll` against a real ringfenced, and
what `run` and `status` do with a directory that is not an enrolled agent's.

  ok             exit 0; status shows host, tenant, group, sensor; agent.json
                 is 0600 and the directory 0700; the server counts one host
  wrong token    exit 1 with the server's refusal; nothing enrolled
  manifest       a manifest that does not describe the sensor: exit 2,
                 before anything is created or sent
  twice          an enrolled directory: exit 1, the directory unchanged, no
                 second host on the server
  bad root       garbage (or a file that is not a TUF root): exit 2, no host
  unreachable    exit 1; and enrolling again in the same directory once the
                 server is reachable works (a host's first attempt often
                 fails for want of network)
  not enrolled   run / status on an empty or missing directory: exit 3
  usage          bad options: exit 2
  TLS            ringfenced over HTTPS (test_tls.py has the plain case):
                 with another CA than the server's, or the system's trust
                 store, enrollment fails (exit 1) and nothing is enrolled;
                 with the server's, the agent takes content through TUF over
                 TLS; and once its pinned CA no longer matches, its check-ins
                 fail and its content keeps running
"""

import json
import os
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib as A  # noqa: E402

H = A.H


def tree(d):
    """{relative path: (mode, size, mtime_ns, bytes)} of everything under D."""
    out = {}
    for base, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(base, n)
            st = os.lstat(p)
            data = A.H.read(p, "rb") if stat.S_ISREG(st.st_mode) else None
            out[os.path.relpath(p, d)] = (st.st_mode, st.st_size, st.st_mtime_ns, data)
    return out


class EnrollTest(A.AgentCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv, cls.w = cls.class_server()
        cls.url = "http://127.0.0.1:%d" % cls.srv.port

    def hosts(self):
        return self.srv.metric("ringfenced_hosts")

    def token(self, tenant="vendor"):
        return self.w.tenant[tenant]["enroll"]

    def test_ok(self):
        before = self.hosts()
        a = self.agent("ok-host")
        p = a.enroll_ok(self.url, self.token("acme"), self.root_of(self.srv), group="laptops")
        self.assertRegex(p.stdout, r"enrolled as host \d+ of tenant acme \(group laptops\), "
                                   r"sensor 7\.16\.18605")
        v = a.st()
        self.assertEqual((v["tenant"], v["group"], v["hostname"], v["sensor_version"]),
                         ("acme", "laptops", "ok-host", A.SENSOR))
        self.assertGreaterEqual(v["host_id"], 1)
        self.assertEqual(v["server"], self.url)
        self.assertEqual(v["channels"], [])
        self.assertFalse(v["running"])
        rc, text, _ = a.status(as_json=False)
        self.assertEqual(rc, 0)
        self.assertIn("tenant acme, group laptops, sensor 7.16.18605", text)
        self.assertIn("no content yet", text)
        # agent.json holds the agent's token: 0600, in a 0700 directory
        self.assertEqual(stat.S_IMODE(os.stat(a.state).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(a.path("agent.json")).st_mode), 0o600)
        conf = a.read_json("agent.json")
        self.assertEqual(conf["tuf_url"], self.url + "/tuf")
        self.assertTrue(conf["token"].startswith("rf_"))
        self.assertTrue(os.path.exists(a.path("tuf", "root.json")))
        self.assertEqual(self.hosts(), before + 1)
        # the token it got works: a check-in as that host
        st, r = self.srv.call("POST", "/v1/checkin", conf["token"], {"sensor_version": A.SENSOR})
        self.assertEqual(st, 200, r)
        self.assertEqual(r["host_id"], v["host_id"])

    def test_wrong_token(self):
        before = self.hosts()
        a = self.agent("wrong-token")
        p = a.enroll(self.url, "rf_" + "0" * 64, self.root_of(self.srv))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("enroll refused: HTTP 401", p.stderr)
        rc, _, err = a.status()
        self.assertEqual(rc, 3, err)
        self.assertFalse(os.path.exists(a.path("agent.json")))
        # a token of another role is refused too (403), as clearly
        p = a.enroll(self.url, self.w.tenant["acme"]["admin"], self.root_of(self.srv))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("enroll refused: HTTP 403", p.stderr)
        self.assertEqual(self.hosts(), before)

    def test_manifest_not_the_sensor(self):
        a = self.agent("wrong-manifest")
        # 7.11's manifest for a 7.16 sensor
        p = a.enroll(self.url, self.token(), self.root_of(self.srv),
                     manifest=A.MANIFESTS["7.11.18110"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("does not describe sensor 7.16.18605", p.stderr)
        self.assertFalse(os.path.exists(a.state), "nothing is created before the manifest "
                                                  "is known to fit")
        # a file that is no manifest at all
        bad = os.path.join(a.dir, "not-a-manifest.yaml")
        with open(bad, "w") as f:
            f.write("kind: Nothing\n: [\n")
        p = a.enroll(self.url, self.token(), self.root_of(self.srv), manifest=bad)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--sensor-manifest", p.stderr)
        self.assertFalse(os.path.exists(a.state))

    def test_already_enrolled(self):
        a = self.agent("twice")
        a.enroll_ok(self.url, self.token(), self.root_of(self.srv))
        before, hosts = tree(a.state), self.hosts()
        p = a.enroll(self.url, self.token("acme"), self.root_of(self.srv), hostname="other")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("already enrolled", p.stderr)
        self.assertEqual(tree(a.state), before, "the enrolled directory was changed")
        self.assertEqual(self.hosts(), hosts, "a second host was enrolled on the server")
        self.assertEqual(a.st()["tenant"], "vendor")

    def test_bad_root(self):
        hosts = self.hosts()
        for i, text in enumerate([b"this is not json\n", b"",
                                  json.dumps({"signed": {"_type": "timestamp"},
                                              "signatures": []}).encode()]):
            a = self.agent("bad-root-%d" % i)
            root = os.path.join(a.dir, "root.json")
            with open(root, "wb") as f:
                f.write(text)
            p = a.enroll(self.url, self.token(), root)
            self.assertEqual(p.returncode, 2, (text, p.stderr))
            self.assertIn("--root", p.stderr)
            self.assertFalse(os.path.exists(a.path("agent.json")))
            self.assertEqual(a.status()[0], 3)
        a = self.agent("missing-root")
        p = a.enroll(self.url, self.token(), os.path.join(a.dir, "no-such-root.json"))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(self.hosts(), hosts, "a bad root cost a host enrollment")

    def test_unreachable(self):
        a = self.agent("unreachable")
        p = a.enroll("http://127.0.0.1:%d" % H.free_port(), self.token(), self.root_of(self.srv))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("enroll:", p.stderr)
        self.assertEqual(a.status()[0], 3)
        # the network is back: enrolling the same directory again works
        p = a.enroll(self.url, self.token(), self.root_of(self.srv))
        self.assertEqual(p.returncode, 0, "enrolling again after an unreachable server:\n" +
                         p.stderr)
        self.assertEqual(a.st()["tenant"], "vendor")

    def test_not_enrolled(self):
        a = self.agent("empty")
        os.mkdir(a.state)
        missing = os.path.join(a.dir, "missing")
        for d in (a.state, missing):
            p = a._cmd(["status", "--state-dir", d])
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertIn("not an enrolled agent's state directory", p.stderr)
            p = a._cmd(["status", "--state-dir", d, "--json"])
            self.assertEqual(p.returncode, 3, p.stderr)
            p = a._cmd(["run", "--state-dir", d, "--events", "none"], timeout=A.T(30))
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertIn("not an enrolled agent's state directory", p.stderr)
        self.assertEqual(os.listdir(a.state), [], "run or status wrote into a directory "
                                                  "that is not an agent's")
        self.assertFalse(os.path.exists(missing))

    def test_usage(self):
        a = self.agent("usage")
        a.enroll_ok(self.url, self.token(), self.root_of(self.srv))
        for argv in (["run"], ["run", "--state-dir", a.state, "--confirm-after", "0"],
                     ["run", "--state-dir", a.state, "--max-starts", "101"],
                     ["run", "--state-dir", a.state, "--fault", "crash-on-content=291"],
                     ["run", "--state-dir", a.state, "--events", "bogus:1"],
                     ["run", "--state-dir", a.state, "extra"],
                     ["status"], ["enroll", "--server", self.url], ["frobnicate"], []):
            p = a._cmd(argv)
            self.assertEqual(p.returncode, 2, (argv, p.stdout, p.stderr))
        p = a._cmd(["enroll", "--server", "ftp://x", "--token", "t", "--state-dir", a.state,
                    "--sensor-version", A.SENSOR, "--sensor-manifest", A.MANIFESTS[A.SENSOR],
                    "--root", self.root_of(self.srv)])
        self.assertEqual(p.returncode, 2, p.stderr)
        for argv in (["--help"], ["enroll", "--help"], ["run", "--help"], ["status", "--help"],
                     ["--version"]):
            p = a._cmd(argv)
            self.assertEqual(p.returncode, 0, (argv, p.stderr))
            self.assertTrue(p.stdout.strip())
        self.assertFalse(os.path.exists(a.path("run.json")), "a usage error ran the agent")


def make_cert(d, name):
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    H.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
           "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert])
    return cert, key


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
class TlsPinningTest(A.AgentCase):
    def test_ca_pinned(self):
        # bootstrap and release 4 over plain HTTP, then serve the same
        # database and repository over TLS only
        srv, w = self.server(bootstrap=False)
        w.bootstrap({"vendor": (True, None)})
        ro = w.start_rollout(A.release(w, 4))
        A.wait_for(lambda: w.rollout(ro["id"])["state"] != "running", A.T(30), "rollout done")
        root = self.root_of(srv)
        srv.stop()
        d = self.fx.new_dir("tls")
        cert, key = make_cert(d, "server")
        other, _ = make_cert(d, "other")
        srv.port = H.free_port()
        log = os.path.join(d, "tls.log")
        with open(log, "w") as lf:
            p = subprocess.Popen(srv.argv() + ["--tls-cert", cert, "--tls-key", key],
                                 stdout=subprocess.DEVNULL, stderr=lf, env=A.sanitizer_env())
        A._LIVE.add(p)

        def stop():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                rc = p.wait(A.T(30))
                self.assertEqual(rc, 0, H.read_log(log)[-3000:])
            H.check_sanitizer_logs([log])
        self.addCleanup(stop)
        ctx = ssl.create_default_context(cafile=cert)
        url = "https://127.0.0.1:%d" % srv.port

        def up():
            try:
                with urllib.request.urlopen(url + "/healthz", context=ctx, timeout=2) as r:
                    return r.status == 200
            except OSError:
                return p.poll() is not None and AssertionError(H.read_log(log))
        self.assertIs(A.wait_for(up, A.T(30), "ringfenced over TLS"), True)

        for name, ca in (("other-ca", other), ("system-ca", None)):
            a = self.agent(name)
            p2 = a.enroll(url, w.tenant["vendor"]["enroll"], root,
                          extra=["--ca", ca] if ca else [])
            self.assertEqual(p2.returncode, 1, p2.stderr)
            self.assertRegex(p2.stderr, r"(?i)certificate|SSL")
            self.assertEqual(a.status()[0], 3)

        a = self.agent("pinned")
        a.enroll_ok(url, w.tenant["vendor"]["enroll"], root, extra=["--ca", cert])
        conf = a.read_json("agent.json")
        self.assertTrue(conf["ca"])
        self.assertEqual(conf["tuf_url"], url + "/tuf")
        self.assertEqual(H.read(a.path("ca.pem"), "rb"), H.read(cert, "rb"))
        a.start(events="synthetic:200", confirm_after=1)
        a.wait_version(4, 30, lkg=4)
        self.assertRegex(a.log_text(), r"version 4 active from slot a on trial \(current")
        # the pinned CA replaced by another: check-ins fail, content keeps running
        a.stop_ok()
        shutil.copy(other, a.path("ca.pem"))
        a.start(events="synthetic:200", confirm_after=1, max_backoff=1)
        a.wait_log(r"check-in: %s/v1/checkin: .*(?i:certificate|SSL)" % url, 20)
        a.wait(lambda: a.running() == 4 and a.events() > 0, 20, "running 4 anyway")


if __name__ == "__main__":
    unittest.main()
