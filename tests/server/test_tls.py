"""test_tls.py — ringfenced over HTTPS (libmicrohttpd with GnuTLS).

A certificate made here with openssl for 127.0.0.1: the API answers over
TLS to a client that trusts it, a client that does not trust it is refused
by its own verification, plain HTTP to the TLS port gets no API answer, and
plain HTTP on an address that is not loopback is refused at start unless
--insecure-listen is given.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


def https(port, path, ctx, token=None, timeout=5):
    req = urllib.request.Request("https://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=ctx))
    with opener.open(req, timeout=timeout) as r:
        return r.status, json.loads(r.read())


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
class TlsTest(H.ServerCase):
    def test_https(self):
        d = self.fx.new_dir("tls")
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        H.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
               "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
               "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key,
               "-out", cert])
        db = os.path.join(d, "db.sqlite")
        admin = H.init_db(db)
        port = H.free_port()
        log = os.path.join(d, "tls.log")
        with open(log, "w") as lf:
            p = subprocess.Popen([H.RINGFENCED, "serve", "--db", db, "--listen",
                                  "127.0.0.1:%d" % port, "--tls-cert", cert, "--tls-key", key],
                                 stdout=subprocess.DEVNULL, stderr=lf)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait()))
        trusted = ssl.create_default_context(cafile=cert)
        up = False
        for _ in H.deadline_loop(30, 0.1):
            try:
                st, v = https(port, "/healthz", trusted)
                up = st == 200 and v["ok"]
                break
            except (OSError, ssl.SSLError):
                if p.poll() is not None:
                    break
        self.assertTrue(up, H.read_log(log))
        st, v = https(port, "/v1/tenants", trusted, admin)
        self.assertEqual(st, 200, v)
        # A client that does not trust the certificate refuses the server.
        with self.assertRaises(urllib.error.URLError) as cm:
            https(port, "/healthz", ssl.create_default_context())
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(cm.exception))
        # Plain HTTP to the TLS port gets no API answer.
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        s.close()
        self.assertNotIn(b'"ok"', data)
        p.terminate()
        self.assertEqual(p.wait(timeout=30), 0, H.read_log(log))
        H.check_sanitizer_logs([log])

        # Plain HTTP on a non-loopback address: refused before anything is bound.
        r = subprocess.run([H.RINGFENCED, "serve", "--db", db, "--listen", "0.0.0.0:%d" % port],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--insecure-listen", r.stderr)
        # A certificate without its key, or a key that is not one: exit 2.
        r = subprocess.run([H.RINGFENCED, "serve", "--db", db, "--listen",
                            "127.0.0.1:%d" % port, "--tls-cert", cert],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        r = subprocess.run([H.RINGFENCED, "serve", "--db", db, "--listen",
                            "127.0.0.1:%d" % port, "--tls-cert", cert, "--tls-key", db],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("certificate", r.stderr)


if __name__ == "__main__":
    unittest.main()
