"""test_badinput.py — what a new user gets wrong, and what ringfenced answers:
malformed and mistyped JSON, unknown fields, oversized bodies, the wrong
Content-Type, path traversal in ids, tenants and /tuf/, unknown tenants,
content the validator refuses, and requests the rules refuse (a rollout of
an unapproved release, an author approving, a vendor changing a tenant's
policy, a second rollout of a busy channel). After every refusal the
database must be as it was: the same tenants, tokens, hosts, releases,
rollouts and policies, and no audit entry but the refusals the server audits
on purpose; the audit chain verifies at the end.
"""

import base64
import http.client
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

MIB = 1 << 20


class BadInputTest(H.ServerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv = cls.class_server(name="badinput")
        admin = cls.srv.init()
        cls.srv.start()
        w = cls.w = H.World(cls.srv, admin, cls.fx).bootstrap()
        # Vendor hosts that never check in hold the rollout in its internal
        # waves (no reports, so no bake): it stays running for the whole test.
        w.enroll({"vendor": 10, "acme": 2})
        cls.agent = w.enroll({"acme": 1}, prefix="checker")[0]
        cls.rid = w.release(4)
        cls.roid = w.start_rollout(cls.rid)["id"]
        st, v = w.upload(6)
        assert st == 201, (st, v)
        cls.rid6 = v["id"]  # validated, not approved
        cls.tok = dict(w.tok)
        cls.tok["ta"] = w.tenant["acme"]["admin"]
        cls.tok["enroll"] = w.tenant["acme"]["enroll"]
        cls.tok["agent"] = cls.agent.token

    # ---- the state a refusal must leave alone ----

    def state(self):
        s, a = self.srv, self.w.admin
        return {
            "tenants": s.ok("GET", "/v1/tenants", a)["tenants"],
            "releases": [(r["id"], r["content_version"], r["state"], r["approver"])
                         for r in s.ok("GET", "/v1/releases", a)["releases"]],
            "rollouts": [(r["id"], r["release"], r["content_version"])
                         for r in s.ok("GET", "/v1/rollouts", a)["rollouts"]],
            "policies": {t: s.ok("GET", "/v1/tenants/%s/policies/291" % t, a)
                         for t in H.TENANTS},
            "hosts": s.metric("ringfenced_hosts"),
            "audit": [(e["seq"], e["action"], e["hash"]) for e in s.audit_all(a)],
        }

    def assertUnchanged(self, before, audited=(), what=""):
        """The state is as `before`; the audit log grew only by the engine's
        decisions and by the actions in `audited` (refusals the server
        records on purpose), each at most once."""
        after = self.state()
        for k in ("tenants", "releases", "rollouts", "policies", "hosts"):
            self.assertEqual(before[k], after[k], "%s changed %s" % (k, what))
        self.assertEqual(after["audit"][:len(before["audit"])], before["audit"],
                         "audit entries were rewritten " + what)
        new = [a for _, a, _ in after["audit"][len(before["audit"]):]
               if not a.startswith("decision.")]
        self.assertEqual(sorted(new), sorted(audited), "new audit entries " + what)

    def refused(self, method, path, role, want, needle=None, audited=(), **kw):
        """Send a request that must be refused with `want`, its error naming
        `needle`, and leave the database unchanged."""
        before = self.state()
        st, v = self.srv.call(method, path, self.tok.get(role, role), **kw)
        self.assertEqual(st, want, "%s %s as %s: %s" % (method, path, role, v))
        self.assertIsInstance(v, dict, v)
        self.assertIsInstance(v.get("error"), str, v)
        if needle:
            self.assertIn(needle, v["error"], "%s %s" % (method, path))
        self.assertUnchanged(before, audited, "by %s %s" % (method, path))
        return v

    # ---- JSON ----

    def test_malformed_json(self):
        for raw, needle in ((b'{"name": "x",', "malformed JSON"),
                            (b'{"name":"x"} trailing', "malformed JSON"),
                            (b"\xff\xfe{}", "malformed JSON"),
                            (b"null", "malformed JSON"),
                            (b'"acme2"', "malformed JSON"),
                            (b'{"name":"a","name":"b"}', "duplicate"),
                            (b'["x"]', "JSON object"),
                            (b"[]", "JSON object"),
                            (b"", "JSON object")):
            with self.subTest(raw=raw):
                self.refused("POST", "/v1/tenants", "admin", 400, needle, raw=raw)
        # the same parser guards every body
        self.refused("POST", "/v1/checkin", "agent", 400, "JSON object", raw=b"[1,2]")
        self.refused("POST", "/v1/enroll", "enroll", 400, "malformed", raw=b"{hostname}")
        self.refused("PUT", "/v1/tenants/acme/policies/291", "ta", 400, "JSON object",
                     raw=b'["ga"]')
        self.refused("POST", "/v1/rollouts", "operator", 400, "malformed", raw=b"{'release':1}")

    def test_unknown_fields_are_named(self):
        cases = [
            ("POST", "/v1/tenants", "admin", {"name": "x1", "colour": "red"}, "'colour'"),
            ("POST", "/v1/tokens", "admin", {"role": "operator", "name": "o", "expires": 1},
             "'expires'"),
            ("POST", "/v1/tenants/acme/tokens", "ta", {"role": "enroll", "name": "e",
                                                       "tenant": "early"}, "'tenant'"),
            ("PUT", "/v1/tenants/acme/policies/291", "ta", {"mode": "ga", "delay": 5},
             "'delay'"),
            ("POST", "/v1/enroll", "enroll", {"hostname": "h", "sensor_version": H.SENSORS[0],
                                              "os": "windows"}, "'os'"),
            ("POST", "/v1/checkin", "agent", {"sensor_version": H.SENSORS[0], "uptime": 1},
             "'uptime'"),
            ("POST", "/v1/checkin", "agent",
             {"content": [{"channel": 291, "version": 0, "colour": "red"}]},
             "content[0].colour"),
            ("POST", "/v1/checkin", "agent", {"health": {"temperature": 3}},
             "health.temperature"),
            ("POST", "/v1/rollouts", "operator", {"release": 1, "speed": "fast"}, "'speed'"),
            ("POST", "/v1/rollouts/%d/halt" % self.roid, "operator",
             {"reason": "x", "force": True}, "'force'"),
        ]
        for method, path, role, body, needle in cases:
            with self.subTest(path=path, needle=needle):
                self.refused(method, path, role, 400, needle, body=body)
        body = self.fx.release_body(8)
        body["comment"] = "new"
        self.refused("POST", "/v1/releases", "author", 400, "'comment'", body=body)

    def test_wrong_types_are_named(self):
        rid = self.rid
        cases = [
            ("POST", "/v1/tenants", "admin", {"name": 5}, "'name'"),
            ("POST", "/v1/tenants", "admin", {"name": "x2", "internal": "yes"}, "'internal'"),
            ("POST", "/v1/tenants", "admin", {"name": "Bad Name!"}, "'name'"),
            ("POST", "/v1/tenants", "admin", {"name": "x" * 64}, "'name'"),
            ("POST", "/v1/tokens", "admin", {"role": 7, "name": "x"}, "'role'"),
            ("POST", "/v1/tokens", "admin", {"role": "operator", "name": "has space"}, "'name'"),
            ("POST", "/v1/rollouts", "operator", {"release": str(rid)}, "'release'"),
            ("POST", "/v1/rollouts", "operator", {"release": 1.5}, "'release'"),
            ("POST", "/v1/rollouts", "operator", {"release": -3}, "'release'"),
            ("POST", "/v1/rollouts", "operator", {"release": rid, "emergency": 1}, "'emergency'"),
            ("POST", "/v1/rollouts", "operator", {"release": rid, "emergency": True},
             "'reason'"),
            ("POST", "/v1/rollouts", "operator", {"release": rid, "reason": ["a"]}, "'reason'"),
            ("PUT", "/v1/tenants/acme/policies/291", "ta", {"mode": 1}, "'mode'"),
            ("PUT", "/v1/tenants/acme/policies/291", "ta", {"mode": "sometimes"}, "'mode'"),
            ("PUT", "/v1/tenants/acme/policies/291", "ta", {"mode": "ga", "ga_delay_s": "60"},
             "'ga_delay_s'"),
            ("PUT", "/v1/tenants/acme/policies/291", "ta", {"mode": "pinned",
                                                            "pinned_version": -1},
             "'pinned_version'"),
            ("PUT", "/v1/tenants/acme/policies/291", "ta", {"mode": "pinned"},
             "'pinned_version'"),
            ("PUT", "/v1/tenants/acme/policies/291", "ta", {"mode": "early", "ga_delay_h": 1},
             "GA delay"),
            ("PUT", "/v1/tenants/acme/policies/291", "ta", {"mode": "ga",
                                                            "emergency_opt_in": "no"},
             "'emergency_opt_in'"),
            ("POST", "/v1/enroll", "enroll", {"hostname": ["h"], "sensor_version": "7"},
             "'hostname'"),
            ("POST", "/v1/enroll", "enroll", {"hostname": "h"}, "'sensor_version'"),
            ("POST", "/v1/enroll", "enroll", {"hostname": "h/../x", "sensor_version": "7"},
             "'hostname'"),
            ("POST", "/v1/enroll", "enroll", {"hostname": "h", "sensor_version": "7",
                                              "group": "A"}, "'group'"),
            ("POST", "/v1/checkin", "agent", {"content": "x"}, "'content'"),
            ("POST", "/v1/checkin", "agent", {"content": [{"version": 1}]}, "channel"),
            ("POST", "/v1/checkin", "agent", {"content": [{"channel": 291, "version": "4"}]},
             "'version'"),
            ("POST", "/v1/checkin", "agent", {"content": [{"channel": 291,
                                                           "status": "broken"}]},
             "status"),
            ("POST", "/v1/checkin", "agent", {"health": {"events": -1}}, "health.events"),
            ("POST", "/v1/checkin", "agent", {"health": {"events": 1.5}}, "health.events"),
            ("POST", "/v1/checkin", "agent", {"health": {"bad": {}}}, "health.bad"),
            ("POST", "/v1/checkin", "agent", {"health": {"bad": [{"channel": 291}]}},
             "health.bad[0]"),
            ("POST", "/v1/checkin", "agent", {"sensor_version": 7}, "'sensor_version'"),
            ("POST", "/v1/releases", "author", {"channel_file": 5, "types": [],
                                                "sensors": ["x"]}, "'channel_file'"),
            ("POST", "/v1/releases", "author", {"channel_file": "not base64!!", "types": [],
                                                "sensors": ["x"]}, "'channel_file'"),
            ("POST", "/v1/releases", "author",
             {"channel_file": base64.b64encode(b"rfc?").decode(), "types": "x",
              "sensors": []}, "'types'"),
        ]
        for method, path, role, body, needle in cases:
            with self.subTest(path=path, body=body):
                self.refused(method, path, role, 400, needle, body=body)
        # A file that is not a channel file is refused by the reader (422).
        body = self.fx.release_body(8)
        body["channel_file"] = base64.b64encode(b"garbage, not a channel file").decode()
        v = self.refused("POST", "/v1/releases", "author", 422, "not a ringfence channel file",
                         body=body)
        self.assertEqual(v.get("stage"), "parse")

    def test_query_arguments(self):
        for path, role, want, needle in (
                ("/v1/plan", "operator", 400, "'release'"),
                ("/v1/plan?release=abc", "operator", 400, "'release'"),
                ("/v1/plan?release=0", "operator", 400, "'release'"),
                ("/v1/plan?release=999999", "operator", 404, "no release"),
                ("/v1/audit?limit=0", "admin", 400, "'limit'"),
                ("/v1/audit?limit=x", "admin", 400, "'limit'"),
                ("/v1/audit?after=-1", "admin", 400, "'after'"),
                ("/v1/releases?channel=0", "author", 400, "'channel'"),
                ("/v1/releases?channel=70000", "author", 400, "'channel'"),
                ("/v1/tenants/acme/policies/291?group=BAD", "ta", 400, "'group'")):
            with self.subTest(path=path):
                self.refused("GET", path, role, want, needle)

    def test_wrong_method(self):
        for method, path, role in (("GET", "/v1/enroll", "enroll"), ("GET", "/v1/checkin", "agent"),
                                   ("PATCH", "/v1/tenants", "admin"),
                                   ("DELETE", "/v1/tenants/acme", "admin"),
                                   ("POST", "/v1/tenants/acme/policies/291", "ta"),
                                   ("PUT", "/v1/releases/%d" % self.rid, "author"),
                                   ("GET", "/v1/releases/%d/approve" % self.rid6, "approver"),
                                   ("GET", "/v1/rollouts/%d/halt" % self.roid, "operator"),
                                   ("POST", "/v1/audit", "admin"),
                                   ("POST", "/healthz", None), ("DELETE", "/metrics", None),
                                   ("POST", "/tuf/metadata/timestamp.json", None)):
            with self.subTest(method=method, path=path):
                self.refused(method, path, role, 405, "use ")

    # ---- sizes and content types ----

    def declared(self, path, token, length, send):
        """A request declaring Content-Length `length` that sends `send` bytes
        of it (the server may answer before reading them)."""
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=20)
        try:
            c.putrequest("POST", path)
            c.putheader("Content-Type", "application/json")
            c.putheader("Authorization", "Bearer " + token)
            c.putheader("Content-Length", str(length))
            c.endheaders()
            try:
                for _ in range(send // 65536):
                    c.send(b"a" * 65536)
            except OSError:
                pass  # answered and closed before the body was read
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    def test_huge_bodies(self):
        before = self.state()
        a = self.w.admin
        for send in (0, 2 * MIB):
            st, text = self.declared("/v1/tenants", a, 2 * MIB, send)
            self.assertEqual(st, 413, text)
            self.assertIn("limit", text)
        # Without a Content-Length (chunked), the limit still holds.
        chunks = iter([b'{"name":"', b"a" * MIB, b"a" * MIB, b'"}'])
        st, v = self.srv.call("POST", "/v1/tenants", a, raw=chunks)
        self.assertEqual(st, 413, v)
        st, v = self.srv.call("POST", "/v1/checkin", self.agent.token,
                              raw=iter([b'{"health":{"bad":[' + b"{}," * 800000 + b"{}]}}"]))
        self.assertEqual(st, 413, v)
        # The server is fine afterwards.
        self.assertEqual(self.srv.health()["ok"], True)
        self.assertUnchanged(before, (), "by oversized bodies")

    def test_content_type(self):
        for ct in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                   "application/yaml"):
            with self.subTest(ct=ct):
                v = self.refused("POST", "/v1/tenants", "admin", 415, "application/json",
                                 raw=b'{"name":"ct-x"}', content_type=ct)
                self.assertIn(ct, v["error"])
        # A charset parameter is fine.
        st, v = self.srv.call("POST", "/v1/tenants", self.w.admin, raw=b'{"name":"ct-ok"}',
                              content_type="application/json; charset=utf-8")
        self.assertEqual(st, 201, v)

    def test_content_type_prefix_is_not_json(self):
        # Regression: rfd_body_object compares only the first 16 characters of the
        # Content-Type (strncasecmp(ct, "application/json", 16)), so
        # "application/jsonx" or "application/json-patch+json" pass as JSON.
        # POST /v1/tenants with Content-Type: application/jsonx and body
        # {"name":"ct-prefix"} answers 201; expected 415.
        self.refused("POST", "/v1/tenants", "admin", 415, "application/json",
                     raw=b'{"name":"ct-prefix"}', content_type="application/jsonx")

    # ---- paths ----

    def test_path_traversal(self):
        db_magic = "SQLite format 3"
        cases = [
            ("/v1/tenants/../x", "admin"), ("/v1/tenants/..", "admin"),
            ("/v1/tenants/..%2Facme", "admin"), ("/v1/tenants/%2e%2e", "admin"),
            ("/v1/tenants/../policies/291", "ta"), ("/v1/tenants/./policies/291", "ta"),
            ("/v1/releases/..%2F1", "author"), ("/v1/releases/-1", "author"),
            ("/v1/releases/0", "author"), ("/v1/releases/01", "author"),
            ("/v1/releases/1e3", "author"), ("/v1/releases/99999999999999999999", "author"),
            ("/v1/rollouts/-1", "operator"), ("/v1/rollouts/0", "operator"),
            ("/v1/rollouts/..%%2F%d" % self.roid, "operator"),
            ("/v1/tenants/acme/policies/0", "ta"), ("/v1/tenants/acme/policies/65536", "ta"),
            ("/v1/tenants/acme/policies/..", "ta"), ("/v1/../healthz", "admin"),
            ("/v1/" + "a/" * 10, "admin"), ("/v1/" + "x" * 600, "admin"),
            ("/tuf/../db.sqlite", None), ("/tuf/../../db.sqlite", None),
            ("/tuf/../badinput.1.log", None), ("/tuf/metadata/../../x", None),
            ("/tuf/metadata/../../../db.sqlite", None), ("/tuf/%2e%2e/%2e%2e/db.sqlite", None),
            ("/tuf/metadata/..%2f..%2f..%2fdb.sqlite", None), ("/tuf/./metadata/timestamp.json", None),
            ("/tuf//etc/passwd", None), ("/tuf/", None), ("/tuf/metadata/", None),
            ("/tuf/metadata", None), ("/tuf/..\\..\\db.sqlite", None),
            ("/etc/passwd", None), ("/db.sqlite", None),
        ]
        for path, role in cases:
            with self.subTest(path=path):
                v = self.refused("GET", path, role, 404)
                self.assertNotIn(db_magic, str(v))
        # what /tuf/ is for still works
        st, v = self.srv.call("GET", "/tuf/metadata/timestamp.json")
        self.assertEqual(st, 200)
        self.assertEqual(v["signed"]["_type"], "timestamp")
        st, v = self.srv.call("GET", "/tuf/metadata/1.root.json")
        self.assertEqual(st, 200)
        self.assertEqual(v["signed"]["_type"], "root")

    def test_nul_in_path_is_refused(self):
        # Regression: libmicrohttpd decodes %00 in the path and the server treats
        # the URL as a C string, so everything after an encoded NUL is
        # ignored: GET /v1/tenants/acme%00x (admin) answers 200 with tenant
        # acme, and GET /tuf/metadata/timestamp.json%00.x answers 200 with
        # timestamp.json. Expected 404 for both: a path with a NUL names no
        # object, and a filter in front of the server sees a different path
        # than the server serves.
        for path, role in (("/v1/tenants/acme%00x", "admin"),
                           ("/tuf/metadata/timestamp.json%00.x", None)):
            with self.subTest(path=path):
                self.refused("GET", path, role, 404)

    def test_unknown_tenants(self):
        for method, path, role, body in (
                ("GET", "/v1/tenants/nosuch", "admin", None),
                ("GET", "/v1/tenants/ACME", "admin", None),
                ("GET", "/v1/tenants/acme%20", "admin", None),
                ("GET", "/v1/tenants/nosuch/policies/291", "operator", None),
                ("PUT", "/v1/tenants/nosuch/policies/291", "admin", {"mode": "ga"}),
                ("PUT", "/v1/tenants/nosuch/policies/291", "ta", {"mode": "ga"}),
                ("POST", "/v1/tenants/nosuch/tokens", "admin", {"role": "enroll", "name": "e"}),
                ("GET", "/v1/tenants/acme/nosuch", "admin", None)):
            with self.subTest(method=method, path=path, role=role):
                self.refused(method, path, role, 404, body=body)

    # ---- the rules ----

    def test_validator_refuses_v5(self):
        # the 19 July content, under a version above every release so far
        # (the version check comes before the validator)
        before = self.state()
        st, v = self.w.upload(50, source="v5")
        self.assertEqual(st, 422, v)
        self.assertIn("[capability]", v["error"])
        self.assertIn("pipe_client_image", v["error"])
        stages = {x["name"]: x for x in v["report"]["stages"]}
        self.assertEqual(v["report"]["verdict"], "rejected")
        self.assertEqual(stages["capability"]["status"], "fail")
        f = stages["capability"]["findings"][0]
        self.assertEqual((f["field"], f["sensor_version"], f["sensor_inputs"]),
                         ("pipe_client_image", "7.11.18110", 20))
        self.assertUnchanged(before, (), "by the refused v5")
        self.assertNotIn(50, [r[1] for r in self.state()["releases"]])

    def test_release_rules(self):
        # a version that does not go up
        st, v = self.w.upload(4)
        self.assertEqual(st, 409, v)
        self.assertIn("content_version", v["error"])
        # an author cannot approve at all; an approver with the author's
        # name cannot approve the author's release
        self.refused("POST", "/v1/releases/%d/approve" % self.rid6, "author", 403)
        same = self.srv.ok("POST", "/v1/tokens", self.w.admin,
                           {"role": "approver", "name": "author-1"})["token"]
        self.refused("POST", "/v1/releases/%d/approve" % self.rid6, same, 403, "author-1",
                     audited=["release.approve.refused"])
        # approving twice, approving nothing
        self.refused("POST", "/v1/releases/%d/approve" % self.rid, "approver", 409, "approved")
        self.refused("POST", "/v1/releases/999999/approve", "approver", 404)
        # a rollout of an unapproved release, of no release
        self.refused("POST", "/v1/rollouts", "operator", 409, "validated",
                     body={"release": self.rid6}, audited=["rollout.refused"])
        self.refused("POST", "/v1/rollouts", "operator", 404, body={"release": 999999})
        self.refused("POST", "/v1/rollouts", "operator", 400, "'release'", body={})

    def test_vendor_cannot_change_a_policy(self):
        for role in ("admin", "operator", "author", "approver"):
            with self.subTest(role=role):
                self.refused("PUT", "/v1/tenants/paused/policies/291", role, 403, "paused",
                             body={"mode": "ga"}, audited=["policy.refused"])
        self.assertEqual(
            self.srv.ok("GET", "/v1/tenants/paused/policies/291", self.w.admin)["mode"], "paused")

    def test_second_rollout_of_a_busy_channel(self):
        # a second rollout of the release that runs, and of a newer one
        self.assertEqual(self.w.rollout(self.roid)["state"], "running")
        self.refused("POST", "/v1/rollouts", "operator", 409, "still running",
                     body={"release": self.rid})
        st, v = self.w.upload(9)
        self.assertEqual(st, 201, v)
        self.srv.ok("POST", "/v1/releases/%d/approve" % v["id"], self.w.tok["approver"])
        self.refused("POST", "/v1/rollouts", "operator", 409, "still running",
                     body={"release": v["id"]})
        # resuming what runs
        self.refused("POST", "/v1/rollouts/%d/resume" % self.roid, "operator", 409, "running")
        self.refused("POST", "/v1/rollouts/999/halt", "operator", 404)

    def test_other_refusals(self):
        self.refused("POST", "/v1/tenants", "admin", 409, "exists", body={"name": "acme"})
        # a host that reports another sensor than it enrolled with
        self.refused("POST", "/v1/checkin", "agent", 409, "sensor",
                     body={"sensor_version": H.SENSORS[1]})

    def test_zz_audit_chain_verifies(self):
        # named to run last: the chain holds after every refusal above
        out = self.assertAuditVerifies(self.srv.db, "after the bad inputs")
        self.assertTrue(out.strip(), out)


if __name__ == "__main__":
    unittest.main()
