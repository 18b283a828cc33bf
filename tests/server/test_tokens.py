"""test_tokens.py — listing and revoking tokens.

An admin lists the vendor's tokens (GET /v1/tokens) and revokes any token
(DELETE /v1/tokens/{id}); a tenant-admin lists and revokes its own tenant's
tokens (GET|DELETE /v1/tenants/{t}/tokens[/{id}]) and nobody else's, which
are 404. A revoked token is refused at once (401), also after a restart; no
token revokes itself; each revocation is audited and the chain verifies.
The token text is never listed: only its hash is stored.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


class TokenTest(H.ServerCase):
    def test_list_and_revoke(self):
        srv = self.server(name="tokens")
        admin = srv.init()
        srv.start()
        w = H.World(srv, admin, self.fx).bootstrap()
        agent = w.enroll({"acme": 1})[0]
        acme = w.tenant["acme"]["admin"]

        st, v = srv.call("GET", "/v1/tokens", admin)
        self.assertEqual(st, 200, v)
        roles = sorted(t["role"] for t in v["tokens"])
        self.assertEqual(roles, ["admin", "approver", "author", "operator"])
        for t in v["tokens"]:
            self.assertNotIn("token", t)
            self.assertFalse(t["revoked"])
        st, v = srv.call("GET", "/v1/tenants/acme/tokens", acme)
        self.assertEqual(st, 200, v)
        mine = {t["role"]: t for t in v["tokens"]}
        self.assertEqual(sorted(mine), ["agent", "enroll", "tenant-admin"])
        self.assertEqual(mine["agent"]["host_id"], agent.host_id)

        # The agent checks in, its tenant decommissions it, it is refused.
        self.assertEqual(srv.call("POST", "/v1/checkin", agent.token, {})[0], 200)
        aid = mine["agent"]["id"]
        st, v = srv.call("DELETE", "/v1/tenants/acme/tokens/%d" % aid, acme)
        self.assertEqual(st, 200, v)
        self.assertTrue(v["revoked"])
        st, v = srv.call("POST", "/v1/checkin", agent.token, {})
        self.assertEqual(st, 401, v)
        # Again: gone from the tenant's view of live tokens, still listed.
        st, v = srv.call("GET", "/v1/tenants/acme/tokens", acme)
        self.assertTrue([t for t in v["tokens"] if t["id"] == aid][0]["revoked"])

        # A tenant-admin cannot reach the vendor's or another tenant's tokens.
        op = [t for t in srv.ok("GET", "/v1/tokens", admin)["tokens"] if t["role"] == "operator"][0]
        st, v = srv.call("DELETE", "/v1/tenants/acme/tokens/%d" % op["id"], acme)
        self.assertEqual(st, 404, v)
        early = srv.ok("GET", "/v1/tenants/early/tokens", admin)["tokens"][0]
        st, v = srv.call("DELETE", "/v1/tenants/acme/tokens/%d" % early["id"], acme)
        self.assertEqual(st, 404, v)
        st, v = srv.call("DELETE", "/v1/tenants/early/tokens/%d" % early["id"], acme)
        self.assertEqual(st, 404, v)
        # Vendor roles other than admin cannot revoke.
        st, v = srv.call("DELETE", "/v1/tokens/%d" % op["id"], w.tok["operator"])
        self.assertEqual(st, 403, v)
        # No token revokes itself; unknown ids are 404; ids are numbers.
        st, v = srv.call("GET", "/v1/tokens", admin)
        self_id = [t for t in v["tokens"] if t["role"] == "admin"][0]["id"]
        self.assertEqual(srv.call("DELETE", "/v1/tokens/%d" % self_id, admin)[0], 409)
        self.assertEqual(srv.call("DELETE", "/v1/tokens/999999", admin)[0], 404)
        self.assertEqual(srv.call("DELETE", "/v1/tokens/x1", admin)[0], 404)

        # The admin revokes the operator: refused at once, and after a restart.
        st, v = srv.call("DELETE", "/v1/tokens/%d" % op["id"], admin)
        self.assertEqual(st, 200, v)
        self.assertEqual(srv.call("GET", "/v1/rollouts", w.tok["operator"])[0], 401)
        srv.stop()
        srv.start()
        self.assertEqual(srv.call("GET", "/v1/rollouts", w.tok["operator"])[0], 401)
        self.assertEqual(srv.call("POST", "/v1/checkin", agent.token, {})[0], 401)
        self.assertEqual(srv.call("GET", "/v1/rollouts", w.tok["author"])[0], 200)

        revokes = [e for e in srv.audit_all(admin) if e["action"] == "token.revoke"]
        self.assertEqual(sorted(e["object"] for e in revokes),
                         sorted(["token/%d" % aid, "token/%d" % op["id"]]))
        self.assertAuditVerifies(srv.db, "after revocations")


if __name__ == "__main__":
    unittest.main()
