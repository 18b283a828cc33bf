"""test_tls.py — a real agent and a real ringfenced over HTTPS.

A certificate made here with openssl for 127.0.0.1; ringfenced serves the API
and the TUF repository over TLS. An agent enrolled with --ca pinned to that
certificate enrolls, checks in and takes a release through TUF over https;
one enrolled without --ca (the system's trust store, which does not know the
certificate) is refused by its own TLS verification, and writes nothing that
says it is enrolled.
"""

import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib as A  # noqa: E402

H = A.H


def https(port, method, path, ctx, token=None, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("https://127.0.0.1:%d%s" % (port, path), data=data,
                                 method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=ctx))
    with opener.open(req, timeout=timeout) as r:
        return r.status, json.loads(r.read())


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
class TlsTest(A.AgentCase):
    def test_agent_over_https(self):
        fx = self.fx
        d = fx.new_dir("tls")
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        H.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
               "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
               "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key,
               "-out", cert])
        srv = H.Server(fx, workdir=d)
        admin = srv.init()
        srv.port = H.free_port()
        log = os.path.join(d, "tls.log")
        with open(log, "w") as lf:
            p = subprocess.Popen(srv.argv() + ["--tls-cert", cert, "--tls-key", key],
                                 stdout=subprocess.DEVNULL, stderr=lf)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait()))
        ctx = ssl.create_default_context(cafile=cert)
        A.wait_for(lambda: self._up(srv.port, ctx), A.T(30), "ringfenced over TLS",
                   lambda: H.read_log(log))

        def ok(method, path, token, body=None):
            st, v = https(srv.port, method, path, ctx, token, body)
            self.assertIn(st, (200, 201), v)
            return v

        tok = {r: ok("POST", "/v1/tokens", admin, {"role": r, "name": r})["token"]
               for r in ("author", "approver", "operator")}
        ok("POST", "/v1/tenants", admin, {"name": "vendor", "internal": True})
        ta = ok("POST", "/v1/tenants/vendor/tokens", admin,
                {"role": "tenant-admin", "name": "va"})["token"]
        enroll = ok("POST", "/v1/tenants/vendor/tokens", ta,
                    {"role": "enroll", "name": "ve"})["token"]
        url = "https://127.0.0.1:%d" % srv.port
        root = os.path.join(srv.repo, "public", "metadata", "1.root.json")

        # Without the CA: refused by the agent's own verification.
        b = A.RealAgent(d, "untrusting")
        self.addCleanup(b.retire)
        r = b.enroll(url, enroll, root)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"(?i)certificate|SSL")
        self.assertFalse(os.path.exists(b.path("agent.json")))

        # With it: enrolled, checking in, content through TUF over https.
        a = A.RealAgent(d, "trusting")
        self.addCleanup(a.retire)
        a.enroll_ok(url, enroll, root, extra=["--ca", cert])
        self.assertEqual(a.st()["server"], url)
        a.start(events="synthetic:200", confirm_after=1)
        A.wait_for(lambda: a.run_json().get("last_checkin_ok", 0) > 0, A.T(30),
                   "a check-in over TLS", a.log_tail)
        body = {"channel_file": base64.b64encode(fx.channel_file(4)).decode(),
                "types": fx.types, "sensors": fx.sensors, "corpus": fx.corpus}
        rid = ok("POST", "/v1/releases", tok["author"], body)["id"]
        ok("POST", "/v1/releases/%d/approve" % rid, tok["approver"])
        ok("POST", "/v1/rollouts", tok["operator"], {"release": rid})
        a.wait_version(4, timeout=60, lkg=4)
        self.assertEqual(a.run_json().get("last_error", ""), "")
        a.stop_ok()
        p.terminate()
        self.assertEqual(p.wait(timeout=30), 0, H.read_log(log))
        H.check_sanitizer_logs([log])

    @staticmethod
    def _up(port, ctx):
        try:
            return https(port, "GET", "/healthz", ctx, timeout=2)[0] == 200
        except OSError:
            time.sleep(0.1)
            return False


if __name__ == "__main__":
    unittest.main()
